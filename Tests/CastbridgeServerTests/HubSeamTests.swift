import CastbridgeServer
import FHIRcastCore
import FHIRcastService
import Foundation
import Testing

/// The store and fan-out seams (issue #20, for #19), live: a castbridge started again over the same store, and two
/// castbridges joined as the nodes of one cluster.
@Suite("Store and fan-out seams (live)")
struct HubSeamTests {
    static let report: [JSONValue] = [
        ["key": "report", "resource": ["resourceType": "DiagnosticReport", "id": "r1"]],
        ["key": "patient", "resource": ["resourceType": "Patient", "id": "p1"]],
    ]

    @Test("C41 C46 and STU2 leases across a restart: the topic's context, its versionId and a verified webhook subscription come back from the store; the webhook gets the next event without subscribing again")
    func restartOverStore() async throws {
        let store = MemoryHubStore()
        try await CallbackServer.with { cb in
            var version = ""
            try await TestServer.with(store: store) { server in
                #expect(try await WebhookTests.subscribeWebhook(server, callback: cb.url, topic: "kept", lease: 600).status == 202)
                #expect(await cb.wait { !$0.verifications.isEmpty })
                try await server.untilVerified()
                try await server.openTopic("kept")
                let opened = try await server.publish(Events.notification("DiagnosticReport-open", topic: "kept", id: "before", context: Self.report))
                #expect(opened.status == 200)
                version = try #require(try await server.get("/fhircast/STU3/kept").json?["context.versionId"]?.stringValue)
            }
            #expect(await store.snapshot.subscriptions.count == 1)
            try await TestServer.with(store: store) { server in
                let context = try await server.get("/fhircast/STU3/kept")
                #expect(context.status == 200)
                #expect(context.json?["context.versionId"]?.stringValue == version)
                #expect(context.json?["context.type"] == "DiagnosticReport")
                let delivered = cb.snapshot().deliveries.count
                #expect(try await server.publish(Events.patientOpen(topic: "kept", id: "after"), flavor: .stu2).status == 200)
                #expect(await cb.wait { $0.deliveries.count > delivered })
                #expect(cb.snapshot().deliveries.last?.json?["id"] == "after")
            }
        }
    }

    @Test("A store that cannot keep a change: the publish is answered 503 with the reason and nothing of it happens (no delivery, the context and its versionId as before); a webhook subscribe is 503 with no verification sent; once the store is back, both work")
    func storeFailure() async throws {
        struct Unreachable: Error, CustomStringConvertible { var description: String { "the database is unreachable" } }
        let store = MemoryHubStore()
        try await CallbackServer.with { cb in
            try await TestServer.with(store: store) { server in
                let (watcher, _, _) = try await server.subscriber(topic: "t", events: "Patient-open")
                #expect(try await server.publish(Events.patientOpen(topic: "t", id: "kept")).status == 200)
                #expect(try await watcher.nextJSON()?["id"] == "kept")
                let before = try await server.get("/fhircast/STU3/t").json
                await store.failCommits(with: Unreachable())
                let refused = try await server.publish(Events.patientOpen(topic: "t", id: "refused"))
                #expect(refused.status == 503)
                #expect(refused.body.contains("the database is unreachable"))
                let hook = try await WebhookTests.subscribeWebhook(server, callback: cb.url, topic: "t")
                #expect(hook.status == 503)
                #expect(try await watcher.nextJSON(timeout: .milliseconds(300)) == nil)
                #expect(try await server.get("/fhircast/STU3/t").json == before)
                #expect(cb.snapshot().verifications.isEmpty)
                await store.failCommits(with: nil)
                #expect(try await server.publish(Events.patientOpen(topic: "t", id: "after")).status == 200)
                #expect(try await watcher.nextJSON()?["id"] == "after")
                #expect(try await WebhookTests.subscribeWebhook(server, callback: cb.url, topic: "t").status == 202)
                #expect(await cb.wait { !$0.verifications.isEmpty })
                watcher.close()
            }
        }
    }

    @Test("A store of one node (SQLite's way) that cannot keep a publish: delivered at once, answered 503 with the reason, the context as before; the publisher's retry with the same id is kept and delivered again")
    func oneNodeStoreFailure() async throws {
        struct DiskFull: Error, CustomStringConvertible { var description: String { "disk full" } }
        let store = MemoryHubStore(deliversAfterWrite: false)
        try await TestServer.with(store: store) { server in
            let (watcher, _, _) = try await server.subscriber(topic: "t", events: "Patient-open")
            #expect(try await server.publish(Events.patientOpen(topic: "t", patient: "p1", id: "kept")).status == 200)
            #expect(try await watcher.nextJSON()?["id"] == "kept")
            watcher.ack("kept")
            let before = try await server.get("/fhircast/STU3/t").json
            await store.failCommits(with: DiskFull())
            let refused = try await server.publish(Events.patientOpen(topic: "t", patient: "p2", id: "retried"))
            #expect(refused.status == 503)
            #expect(refused.body.contains("disk full"))
            #expect(try await watcher.nextJSON()?["id"] == "retried")
            watcher.ack("retried")
            #expect(try await server.get("/fhircast/STU3/t").json == before)
            await store.failCommits(with: nil)
            #expect(try await server.publish(Events.patientOpen(topic: "t", patient: "p2", id: "retried")).status == 200)
            #expect(try await watcher.nextJSON()?["id"] == "retried")
            #expect(await store.snapshot.topics["t"]?.current?.anchorID == "Patient/p2")
            watcher.close()
        }
    }

    @Test("C26 across nodes: an event published to one node reaches a subscriber of the other, once, and the other's current context follows it")
    func twoNodes() async throws {
        let pair = PairedFanOut()
        try await TestServer.with(fanOut: pair.a) { a in
            try await TestServer.with(fanOut: pair.b) { b in
                let (onB, _, _) = try await b.subscriber(topic: "shared", events: "DiagnosticReport-open")
                try await a.openTopic("shared")
                #expect(try await a.publish(Events.notification("DiagnosticReport-open", topic: "shared", id: "across", context: Self.report)).status == 200)
                let got = try #require(try await onB.nextJSON(timeout: .seconds(5)))
                #expect(got["id"] == "across")
                let versionOnA = try await a.get("/fhircast/STU3/shared").json?["context.versionId"]
                #expect(got["event"]?["context.versionId"] == versionOnA)
                #expect(try await onB.nextJSON(timeout: .milliseconds(300)) == nil)
                #expect(try await b.get("/fhircast/STU3/shared").json?["context.versionId"] == versionOnA)
                onB.close()
            }
        }
    }
}
