import CastbridgeServer
import FHIRcastCore
import Foundation
import Logging
import NIOHTTP1
import StateStores
import AccessCore
import Testing
import TestSupport

/// Issue #19 on one node: the SQLite store, live, across restarts of castbridge (in-process, and the real executable
/// killed with SIGKILL).
@Suite("Durable state: SQLite (live)")
struct DurableStateTests {
    static func withStorePath(_ body: (String) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("castbridge-durable-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await body(folder + "/castbridge.sqlite")
    }

    @Test("C46 C47 across a restart over SQLite: the topic's context, its versionId and content come back, an update made against that versionId is taken and a stale one refused; a verified webhook gets the next event without subscribing again")
    func restart() async throws {
        try await Self.withStorePath { path in
            try await CallbackServer.with { cb in
                let sqlite: (inout ServerConfiguration) -> Void = { $0.store = .sqlite(path: path) }
                var v1 = "", v2 = ""
                try await TestServer.with(sqlite) { server in
                    #expect(try await WebhookTests.subscribeWebhook(server, callback: cb.url, topic: "kept", events: "DiagnosticReport-open,DiagnosticReport-update", lease: 600).status == 202)
                    try await server.untilVerified()
                    #expect(try await server.publish(Events.reportOpen(topic: "kept", id: "open")).status == 200)
                    v1 = try #require(try await server.get("/fhircast/STU3/kept").json?["context.versionId"]?.stringValue)
                    #expect(try await server.publish(Events.reportUpdate(topic: "kept", version: v1, entries: [Events.observationPut("o1")])).status == 200)
                    v2 = try #require(try await server.get("/fhircast/STU3/kept").json?["context.versionId"]?.stringValue)
                    #expect(await cb.wait { $0.deliveries.count == 2 })
                }
                try await TestServer.with(sqlite) { server in
                    let context = try #require(try await server.get("/fhircast/STU3/kept").json)
                    #expect(context["context.versionId"]?.stringValue == v2)
                    #expect(context["context.type"] == "DiagnosticReport")
                    #expect(try await server.get("/health").json?["subscriptions"] == 1)
                    let stale = try await server.publish(Events.reportUpdate(topic: "kept", version: v1, entries: [Events.observationPut("o2")]))
                    #expect(stale.status == 400)
                    let current = try await server.publish(Events.reportUpdate(topic: "kept", version: v2, entries: [Events.observationPut("o2")], id: "after"))
                    #expect(current.status == 200)
                    #expect(await cb.wait { $0.deliveries.count == 3 })
                    #expect(cb.snapshot().deliveries.last?.json?["id"] == "after")
                    #expect(cb.snapshot().verifications.count == 1)
                }
            }
        }
    }

    @Test("Cast WebSub subscriptions across a restart over SQLite: the subscription comes back, is posted the next event without being verified again, and an unsubscribe is kept too; WebSocket subscriptions end with their sockets")
    func castWebSubRestart() async throws {
        try await Self.withStorePath { path in
            try await CallbackServer.with { cb in
                let sqlite: (inout ServerConfiguration) -> Void = { $0.store = .sqlite(path: path) }
                let body = "hub.mode=subscribe&hub.channel.type=websub&hub.topic=W&hub.events=annotation-update&subscriber.name=Hook&hub.secret=s3cr3t&hub.callback=\(TestServer.formEncode(cb.url))"
                try await TestServer.with(sqlite) { server in
                    let subscribed = try await CastHubTests.form(server, "/api/hub", body)
                    #expect(subscribed.status == 202)
                    _ = try await server.castSubscriber(topic: "W", events: "*", name: "Socket")
                }
                try await TestServer.with(sqlite) { server in
                    let snapshot = try await server.get("/api/hub/admin/snapshot")
                    #expect(snapshot.json?["stats"]?["total_subscriptions"] == 1)
                    let published = try await server.castPost(CastHubTests.event("annotation-update", topic: "W", from: "Slicer"))
                    #expect(published.status == 200)
                    #expect(await cb.wait { $0.deliveries.count == 1 })
                    let d = try #require(cb.snapshot().deliveries.first)
                    #expect(d.signature == "sha256=" + CallbackServer.hmac(d.body, secret: "s3cr3t"))
                    #expect(cb.snapshot().verifications.count == 1)
                    let un = try await CastHubTests.form(server, "/api/hub", "hub.mode=unsubscribe&hub.topic=W&hub.callback=\(TestServer.formEncode(cb.url))")
                    #expect(un.json?["removed"] == 1)
                }
                try await TestServer.with(sqlite) { server in
                    let snapshot = try await server.get("/api/hub/admin/snapshot")
                    #expect(snapshot.json?["stats"]?["total_subscriptions"] == 0)
                }
            }
        }
    }

    @Test("Audit records are kept in the store across a restart (and still logged); none with a retention of 0")
    func auditKept() async throws {
        try await Self.withStorePath { path in
            let sqlite: (inout ServerConfiguration) -> Void = { $0.store = .sqlite(path: path) }
            try await TestServer.with(sqlite, audit: nil) { server in
                _ = try await server.subscribe(topic: "audited", events: "Patient-open")
            }
            var records = try await SQLiteHubStore(path: path, logger: .init(label: "test")).latestAuditAndClose()
            #expect(records.first?.action == "subscribe")
            #expect(records.first?.topic == "audited")
            #expect(records.first?.outcome == "allowed")
            let none: (inout ServerConfiguration) -> Void = {
                $0.store = .sqlite(path: path)
                $0.auditRetentionDays = 0
            }
            try await TestServer.with(none, audit: nil) { server in
                _ = try await server.subscribe(topic: "not-kept", events: "Patient-open")
            }
            records = try await SQLiteHubStore(path: path, logger: .init(label: "test")).latestAuditAndClose()
            #expect(records.count == 1)
        }
    }

    @Test("An expired lease is still expired after a restart: the webhook subscription is not restored, gets no event, and is gone from the store")
    func expiredLease() async throws {
        try await Self.withStorePath { path in
            try await CallbackServer.with { cb in
                let sqlite: (inout ServerConfiguration) -> Void = { $0.store = .sqlite(path: path) }
                try await TestServer.with(sqlite) { server in
                    #expect(try await WebhookTests.subscribeWebhook(server, callback: cb.url, topic: "short", lease: 1).status == 202)
                    try await server.untilVerified()
                    try await server.openTopic("short")
                }
                try await Task.sleep(for: .milliseconds(1200))
                try await TestServer.with(sqlite) { server in
                    #expect(try await server.get("/health").json?["subscriptions"] == 0)
                    try await server.openTopic("short")
                    #expect(try await server.publish(Events.patientOpen(topic: "short")).status == 200)
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(cb.snapshot().deliveries.isEmpty)
                }
                let records = try await SQLiteHubStore(path: path, logger: .init(label: "test")).loadAndClose()
                #expect(records.subscriptions.isEmpty)
            }
        }
    }

    @Test("SIGKILL loses nothing acknowledged: the real castbridge on SQLite killed right after a 200, started again on the same file, answers with the context and versionId of the last acknowledged publish")
    func sigkill() async throws {
        try await Self.withStorePath { path in
            let arguments = ["--store", "sqlite:\(path)"]
            let first = try await CastbridgeProcess.start(arguments: arguments)
            let subscribe = try await TestServer.request(
                .POST, "\(first.base)/fhircast/STU3", body: FormBody.encode([("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "k"), ("hub.events", "SyncError")]),
                contentType: "application/x-www-form-urlencoded")
            #expect(subscribe.status == 202)
            func publish(_ base: String, _ event: JSONValue) async throws -> Int {
                let body = String(decoding: try JSONEncoder().encode(event), as: UTF8.self)
                return try await TestServer.request(.POST, "\(base)/fhircast/STU3", body: body, contentType: "application/json").status
            }
            #expect(try await publish(first.base, Events.reportOpen(topic: "k")) == 200)
            var version = try #require(try await TestServer.request(.GET, "\(first.base)/fhircast/STU3/k").json?["context.versionId"]?.stringValue)
            for i in 0..<20 {
                #expect(try await publish(first.base, Events.reportUpdate(topic: "k", version: version, entries: [Events.observationPut("o\(i)")])) == 200)
                version = try #require(try await TestServer.request(.GET, "\(first.base)/fhircast/STU3/k").json?["context.versionId"]?.stringValue)
            }
            await first.kill()
            #expect(await first.exitStatus == "signal 9")
            let second = try await CastbridgeProcess.start(arguments: arguments)
            let context = try await TestServer.request(.GET, "\(second.base)/fhircast/STU3/k")
            #expect(context.status == 200)
            #expect(context.json?["context.versionId"]?.stringValue == version)
            #expect(try await publish(second.base, Events.reportUpdate(topic: "k", version: version, entries: [Events.observationPut("next")])) == 200)
            await second.stopAndWait()
        }
    }
}

extension SQLiteHubStore {
    func latestAuditAndClose() async throws -> [AuditRecord] {
        let records = try await latestAudit(limit: 10)
        await close()
        return records
    }

    /// Reads the file as the next castbridge would, then lets it go.
    func loadAndClose() async throws -> HubRecords {
        let records = try await load()
        await close()
        return records
    }
}
