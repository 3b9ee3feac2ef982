import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOWebSocket
import Testing

/// ACKs, SyncError, liveness and slow subscribers (checklist §1.5).
@Suite("ACKs and SyncError (live)")
struct SyncErrorTests {
    static func codings(_ syncError: JSONValue) -> [String: String] {
        let issue = syncError["event"]?["context"]?.arrayValue?.first?["resource"]?["issue"]?.arrayValue?.first
        var result: [String: String] = [:]
        for c in issue?["details"]?["coding"]?.arrayValue ?? [] {
            if let system = c["system"]?.stringValue, let code = c["code"]?.stringValue {
                result[String(system.split(separator: "/").last!)] = code
            }
        }
        return result
    }

    @Test("C30 C31 C34 C35: a refusal ACK (409) sends a profile-shaped SyncError to the other syncerror subscribers")
    func refusalAck() async throws {
        try await TestServer.with { server in
            let (a, _, _) = try await server.subscriber(topic: "ack", events: "Patient-open,SyncError", name: "A")
            let (b, _, _) = try await server.subscriber(topic: "ack", events: "Patient-open", name: "Reporting")
            _ = try await server.publish(Events.patientOpen(topic: "ack", id: "ev-1"))
            #expect(try await a.nextJSON()?["id"] == "ev-1")
            #expect(try await b.nextJSON()?["id"] == "ev-1")
            a.ack("ev-1", status: 200)
            b.ack("ev-1", status: "409")
            let syncError = try #require(try await a.nextJSON())
            #expect(syncError["event"]?["hub.event"] == "SyncError")
            let issue = syncError["event"]?["context"]?.arrayValue?.first?["resource"]?["issue"]?.arrayValue?.first
            #expect(issue?["severity"] == "warning")
            #expect(issue?["code"] == "processing")
            #expect(issue?["diagnostics"]?.stringValue?.contains("Reporting") == true)
            #expect(Self.codings(syncError) == ["eventid": "ev-1", "eventname": "Patient-open", "subscribername": "Reporting"])
            #expect(syncError["event"]?["context"]?.arrayValue?.first?["key"] == "operationoutcome")
            // The refusing subscriber gets nothing more and stays subscribed.
            #expect(await b.expectSilence(.milliseconds(300)) == nil)
            _ = try await server.publish(Events.patientOpen(topic: "ack", id: "ev-2"))
            #expect(try await b.nextJSON()?["id"] == "ev-2")
        }
    }

    @Test("C30: unknown frames, ACKs of unknown ids and non-JSON text do not close the socket")
    func tolerantOfOddFrames() async throws {
        try await TestServer.with { server in
            let (s, endpoint, _) = try await server.subscriber(topic: "odd", events: "Patient-open")
            s.send("not json at all")
            s.send(["hub.channel.endpoint": .string(endpoint)])  // what OHIF sends after connecting
            s.ack("no-such-event", status: 200)
            s.send(["id": "x", "status": "abc"])
            _ = try await server.publish(Events.patientOpen(topic: "odd", id: "still-open"))
            #expect(try await s.nextJSON()?["id"] == "still-open")
        }
    }

    @Test("C33a: no ACK within the timeout → SyncError to the others, the silent subscriber is denied and closed")
    func ackTimeout() async throws {
        // Long enough for A's ACK to arrive on a loaded test machine.
        try await TestServer.with({ $0.hub.ackTimeoutSeconds = 1.5 }) { server in
            let (a, _, _) = try await server.subscriber(topic: "to", events: "Patient-open,SyncError", name: "A")
            let (b, _, _) = try await server.subscriber(topic: "to", events: "Patient-open", name: "Silent")
            _ = try await server.publish(Events.patientOpen(topic: "to", id: "ev-t"))
            #expect(try await a.nextJSON()?["id"] == "ev-t")
            a.ack("ev-t")
            #expect(try await b.nextJSON()?["id"] == "ev-t")
            let syncError = try #require(try await a.nextJSON(timeout: .seconds(5)))
            #expect(syncError["event"]?["hub.event"] == "SyncError")
            #expect(Self.codings(syncError)["subscribername"] == "Silent")
            #expect(Self.codings(syncError)["eventid"] == "ev-t")
            let (frames, code) = await b.waitForClose(timeout: .seconds(3))
            #expect(frames.first?["hub.mode"] == "denied")
            #expect(code != nil)
            // A's ACK kept it subscribed.
            #expect(await a.expectSilence(.milliseconds(800)) == nil)
        }
    }

    @Test("C33b: a subscriber that vanishes without a close frame produces a SyncError")
    func abnormalDrop() async throws {
        try await TestServer.with { server in
            let (a, _, _) = try await server.subscriber(topic: "drop", events: "SyncError", name: "A")
            let endpoint = try await server.subscribe(topic: "drop", events: "Patient-open", name: "Vanisher")
            let raw = try await RawSocket.connect(endpoint)
            try await Task.sleep(for: .milliseconds(100))
            await raw.drop()
            let syncError = try #require(try await a.nextJSON())
            #expect(Self.codings(syncError)["subscribername"] == "Vanisher")
        }
    }

    @Test("C33: a close with a code other than 1000/1001 produces a SyncError; C24 C33c: 1000 and 1001 do not")
    func closeCodes() async throws {
        try await TestServer.with { server in
            let (a, _, _) = try await server.subscriber(topic: "cc", events: "SyncError", name: "A")
            for code: WebSocketErrorCode in [.normalClosure, .goingAway] {
                let (b, _, _) = try await server.subscriber(topic: "cc", events: "Patient-open", name: "Polite")
                b.close(code)
                #expect(await a.expectSilence(.milliseconds(500)) == nil)
            }
            let (c, _, _) = try await server.subscriber(topic: "cc", events: "Patient-open", name: "Crashed")
            c.close(.unexpectedServerError)
            let syncError = try #require(try await a.nextJSON())
            #expect(Self.codings(syncError)["subscribername"] == "Crashed")
            #expect(syncError["event"]?["context"]?.arrayValue?.first?["resource"]?["issue"]?.arrayValue?.first?["diagnostics"]?.stringValue?.contains("1011") == true)
        }
    }

    @Test("C35: SyncErrors go only to syncerror subscribers")
    func syncErrorOnlyToSubscribers() async throws {
        try await TestServer.with { server in
            let (plain, _, _) = try await server.subscriber(topic: "se", events: "Patient-open", name: "Plain")
            let (c, _, _) = try await server.subscriber(topic: "se", events: "Patient-open", name: "Crasher")
            c.close(.unexpectedServerError)
            #expect(await plain.expectSilence(.milliseconds(500)) == nil)
        }
    }

    @Test("C32: a SyncError POSTed by a subscriber is relayed to syncerror subscribers")
    func relaySubscriberSyncError() async throws {
        try await TestServer.with { server in
            let (a, _, _) = try await server.subscriber(topic: "relay", events: "syncerror")
            let outcome: JSONValue = ["resourceType": "OperationOutcome", "issue": [["severity": "warning", "code": "processing", "diagnostics": "could not open"]]]
            let result = try await server.publish(Events.notification("SyncError", topic: "relay", id: "se-1", context: [["key": "operationoutcome", "resource": outcome]]))
            #expect(result.status == 200)
            let got = try #require(try await a.nextJSON())
            #expect(got["id"] == "se-1")
            #expect(got["event"]?["hub.event"] == "SyncError")
        }
    }

    @Test("Liveness: a subscriber that does not answer pings is closed and counts as an abnormal close")
    func pingTimeout() async throws {
        // Long enough for A's pongs on a loaded test machine.
        try await TestServer.with({ $0.pingIntervalSeconds = 1 }) { server in
            let (a, _, _) = try await server.subscriber(topic: "ping", events: "SyncError", name: "A")
            let endpoint = try await server.subscribe(topic: "ping", events: "Patient-open", name: "Deaf")
            let raw = try await RawSocket.connect(endpoint)
            let syncError = try #require(try await a.nextJSON(timeout: .seconds(8)))
            #expect(Self.codings(syncError)["subscribername"] == "Deaf")
            try await Task.sleep(for: .milliseconds(300))
            #expect(!raw.isActive)
        }
    }

    @Test("A slow subscriber is dropped with a SyncError when its send buffer overflows; the others get every event")
    func slowSubscriberDropped() async throws {
        // Room for a fast reader on a loaded machine; the sloth, which reads nothing, still overflows it.
        try await TestServer.with({ $0.sendBufferMessages = 32 }) { server in
            let (fast, _, _) = try await server.subscriber(topic: "slow", events: "Patient-open,SyncError", name: "Fast")
            let endpoint = try await server.subscribe(topic: "slow", events: "Patient-open", name: "Sloth")
            let raw = try await RawSocket.connect(endpoint)
            try await raw.stopReading()
            let filler = String(repeating: "x", count: 200_000)
            let count = 150
            try await withThrowingTaskGroup(of: (ids: [String], sawSyncError: Bool).self) { group in
                // Fast reads and acknowledges while the events are published, as a subscriber that keeps up does.
                group.addTask {
                    var ids: [String] = []
                    var sawSyncError = false
                    while let frame = try await fast.nextJSON(timeout: .seconds(10)) {
                        if frame["event"]?["hub.event"] == "SyncError" {
                            sawSyncError = true
                            #expect(Self.codings(frame)["subscribername"] == "Sloth")
                        } else if let id = frame["id"]?.stringValue {
                            ids.append(id)
                            fast.ack(id)
                        }
                        if sawSyncError && ids.count == count { break }
                    }
                    return (ids, sawSyncError)
                }
                for i in 0..<count {
                    let n = Events.notification(
                        "Patient-open", topic: "slow", id: "big-\(i)",
                        context: [["key": "patient", "resource": ["resourceType": "Patient", "id": .string("p\(i)"), "text": .string(filler)]]])
                    #expect(try await server.publish(n).status == 200)
                }
                let fastSaw = try #require(try await group.next())
                #expect(fastSaw.sawSyncError)
                #expect(fastSaw.ids == (0..<count).map { "big-\($0)" })
            }
            await raw.drop()
        }
    }
}
