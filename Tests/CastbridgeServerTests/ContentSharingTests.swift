import CastbridgeServer
import FHIRcastCore
import Foundation
import Testing

/// Content sharing with versionIds (checklist §1.8, C42).
@Suite("Content sharing (live)")
struct ContentSharingTests {
    @Test("C45 C46 C47: open gets a versionId; an update on it is broadcast with a new one, the prior one and the same bundle id; a stale update is a 400")
    func updateRoundTrip() async throws {
        try await TestServer.with { server in
            let (s, _, _) = try await server.subscriber(topic: "cs", events: "DiagnosticReport-open,DiagnosticReport-update")
            _ = try await server.publish(Events.reportOpen(topic: "cs", id: "open-1"))
            let opened = try #require(try await s.nextJSON())
            let v1 = try #require(opened["event"]?["context.versionId"]?.stringValue)
            let update = Events.reportUpdate(topic: "cs", version: v1, entries: [Events.observationPut("o1")], bundleID: "bundle-7", id: "upd-1")
            #expect(try await server.publish(update).status == 200)
            let updated = try #require(try await s.nextJSON())
            #expect(updated["id"] == "upd-1")
            let v2 = try #require(updated["event"]?["context.versionId"]?.stringValue)
            #expect(v2 != v1)
            #expect(updated["event"]?["context.priorVersionId"]?.stringValue == v1)
            let bundle = updated["event"]?["context"]?.arrayValue?.first { $0["key"] == "updates" }
            #expect(bundle?["resource"]?["id"] == "bundle-7")
            // The same version again is stale.
            let stale = try await server.publish(Events.reportUpdate(topic: "cs", version: v1, entries: [Events.observationPut("o2")]))
            #expect(stale.status == 400)
            #expect(stale.body.contains("stale"))
            #expect(await s.expectSilence(.milliseconds(500)) == nil)
            // C42: GET shows v2 and the content bundle.
            let ctx = try #require(try await server.get("/fhircast/STU3/cs").json)
            #expect(ctx["context.versionId"]?.stringValue == v2)
            #expect(ctx["context.type"] == "DiagnosticReport")
            let content = ctx["context"]?.arrayValue?.filter { $0["key"] == "content" } ?? []
            #expect(content.count == 1)
            #expect(content.first?["resource"]?["type"] == "collection")
            let entries = content.first?["resource"]?["entry"]?.arrayValue ?? []
            #expect(entries.map { $0["resource"]?["id"] } == ["o1"])
            #expect(entries.allSatisfy { $0["request"] == nil })
        }
    }

    @Test("C47: of two concurrent updates on one version exactly one wins")
    func concurrentUpdates() async throws {
        try await TestServer.with { server in
            try await server.openTopic("race")
            _ = try await server.publish(Events.reportOpen(topic: "race"))
            let v1 = try #require(try await server.get("/fhircast/STU3/race").json?["context.versionId"]?.stringValue)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<8 {
                    group.addTask {
                        try await server.publish(Events.reportUpdate(topic: "race", version: v1, entries: [Events.observationPut("o\(i)")])).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 200 }.count == 1)
            #expect(statuses.filter { $0 == 400 }.count == 7)
        }
    }

    @Test("C48: POST entries, a duplicated resource, and deleting an opened resource are refused; nothing changes")
    func bundleRules() async throws {
        try await TestServer.with { server in
            try await server.openTopic("rules")
            _ = try await server.publish(Events.reportOpen(topic: "rules"))
            let v1 = try #require(try await server.get("/fhircast/STU3/rules").json?["context.versionId"]?.stringValue)
            let post: JSONValue = ["request": ["method": "POST"], "resource": ["resourceType": "Observation", "id": "n"]]
            let del: JSONValue = ["request": ["method": "DELETE", "url": "Patient/p1"]]
            for (entries, reason) in [([post], "POST"), ([Events.observationPut("d"), Events.observationPut("d")], "more than once"), ([del], "opened context")] {
                let r = try await server.publish(Events.reportUpdate(topic: "rules", version: v1, entries: entries))
                #expect(r.status == 400)
                #expect(r.body.contains(reason), "\(r.body)")
            }
            #expect(try await server.get("/fhircast/STU3/rules").json?["context.versionId"]?.stringValue == v1)
        }
    }

    @Test("C48: DELETE removes content that an earlier update PUT")
    func deleteContent() async throws {
        try await TestServer.with { server in
            try await server.openTopic("del")
            _ = try await server.publish(Events.reportOpen(topic: "del"))
            var v = try #require(try await server.get("/fhircast/STU3/del").json?["context.versionId"]?.stringValue)
            _ = try await server.publish(Events.reportUpdate(topic: "del", version: v, entries: [Events.observationPut("a"), Events.observationPut("b")]))
            v = try #require(try await server.get("/fhircast/STU3/del").json?["context.versionId"]?.stringValue)
            let r = try await server.publish(Events.reportUpdate(topic: "del", version: v, entries: [["request": ["method": "DELETE", "url": "Observation/a"]]]))
            #expect(r.status == 200)
            let ctx = try #require(try await server.get("/fhircast/STU3/del").json)
            let entries = ctx["context"]?.arrayValue?.first { $0["key"] == "content" }?["resource"]?["entry"]?.arrayValue ?? []
            #expect(entries.map { $0["resource"]?["id"] } == ["b"])
        }
    }

    @Test("C49 C50: close discards the content; an update to a non-current or closed report is refused")
    func closeAndNonCurrent() async throws {
        try await TestServer.with { server in
            try await server.openTopic("nc")
            _ = try await server.publish(Events.reportOpen(topic: "nc", report: "r1"))
            let v1 = try #require(try await server.get("/fhircast/STU3/nc").json?["context.versionId"]?.stringValue)
            _ = try await server.publish(Events.reportOpen(topic: "nc", report: "r2"))
            let notCurrent = try await server.publish(Events.reportUpdate(topic: "nc", report: "r1", version: v1, entries: [Events.observationPut("x")]))
            #expect(notCurrent.status == 400)
            #expect(notCurrent.body.contains("not the current context"))
            let close = Events.notification(
                "DiagnosticReport-close", topic: "nc",
                context: [["key": "report", "resource": ["resourceType": "DiagnosticReport", "id": "r1"]], Events.patient("p1")])
            #expect(try await server.publish(close).status == 200)
            let closed = try await server.publish(Events.reportUpdate(topic: "nc", report: "r1", version: v1, entries: []))
            #expect(closed.status == 400)
            #expect(closed.body.contains("not open"))
        }
    }

    @Test("C38: re-opening an unclosed report makes it current again with its content kept")
    func reopenKeepsContent() async throws {
        try await TestServer.with { server in
            try await server.openTopic("ro")
            _ = try await server.publish(Events.reportOpen(topic: "ro", report: "r1"))
            let v1 = try #require(try await server.get("/fhircast/STU3/ro").json?["context.versionId"]?.stringValue)
            _ = try await server.publish(Events.reportUpdate(topic: "ro", report: "r1", version: v1, entries: [Events.observationPut("kept")]))
            _ = try await server.publish(Events.reportOpen(topic: "ro", report: "r2"))
            _ = try await server.publish(Events.reportOpen(topic: "ro", report: "r1"))
            let ctx = try #require(try await server.get("/fhircast/STU3/ro").json)
            let report = ctx["context"]?.arrayValue?.first { $0["key"] == "report" }
            #expect(report?["resource"]?["id"] == "r1")
            let entries = ctx["context"]?.arrayValue?.first { $0["key"] == "content" }?["resource"]?["entry"]?.arrayValue ?? []
            #expect(entries.map { $0["resource"]?["id"] } == ["kept"])
        }
    }

    @Test("C51: select is forwarded for the current report and refused for a non-current one")
    func select() async throws {
        try await TestServer.with { server in
            let (s, _, _) = try await server.subscriber(topic: "sel", events: "DiagnosticReport-select")
            _ = try await server.publish(Events.reportOpen(topic: "sel", report: "r1"))
            let select = Events.notification(
                "DiagnosticReport-select", topic: "sel", id: "sel-1",
                context: [["key": "report", "reference": ["reference": "DiagnosticReport/r1"]], ["key": "select", "reference": ["reference": "Observation/o1"]]])
            #expect(try await server.publish(select).status == 200)
            #expect(try await s.nextJSON()?["id"] == "sel-1")
            let other = Events.notification(
                "DiagnosticReport-select", topic: "sel",
                context: [["key": "report", "reference": ["reference": "DiagnosticReport/zzz"]], ["key": "select", "reference": ["reference": "Observation/o1"]]])
            #expect(try await server.publish(other).status == 400)
        }
    }
}
