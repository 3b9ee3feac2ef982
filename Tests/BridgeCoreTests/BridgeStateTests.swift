import Foundation
import Testing

@testable import BridgeCore
@testable import FHIRcastCore

/// The bridge's state apart from its connection (issue #20): forwarded requests, served files, echoes, counters.
@Suite("Bridge state")
struct BridgeStateTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let rule = RequestMapping(dataType: "SCENEVIEW", action: .forward, fhircast: "castbridge-sceneview-request")

    static func request(_ id: String, topic: String = "T", timeout: JSONValue? = nil) -> IncomingCastRequest {
        var context: [String: JSONValue] = ["id": .string(id)]
        if let timeout { context["timeoutSeconds"] = timeout }
        return IncomingCastRequest(
            correlationID: id, dataType: "SCENEVIEW", topic: topic, eventName: "sceneview-request", requester: "Viewer",
            isLegacy: false, context: context, fields: [:])
    }

    @Test("A forwarded request takes one reply on its own topic, within its timeout plus 5 s; a second reply is a 409")
    func forwardedReplies() throws {
        var f = ForwardedRequests()
        let forwarded = f.forward(Self.request("r1", timeout: 10), rule: Self.rule, now: t0)
        #expect(forwarded)
        #expect(throws: HubError.self) { try f.awaitingReply(id: "r1", topic: "other", now: t0) }
        #expect(throws: HubError.self) { try f.awaitingReply(id: "nope", topic: "T", now: t0) }
        let entry = try f.awaitingReply(id: "r1", topic: "T", now: t0.addingTimeInterval(14))
        #expect(entry.rule == Self.rule)
        f.answered(id: "r1")
        do {
            _ = try f.awaitingReply(id: "r1", topic: "T", now: t0)
            Issue.record("a second reply was taken")
        } catch {
            #expect(error.status == 409)
        }
        #expect(throws: HubError.self) { try f.awaitingReply(id: "r1", topic: "T", now: t0.addingTimeInterval(16)) }
        f.expire(now: t0.addingTimeInterval(16))
        #expect(f.count == 0)
    }

    @Test("The wait is the Cast default without timeoutSeconds, at least 1 s and at most the Cast maximum, plus 5 s")
    func forwardedTimeouts() throws {
        var f = ForwardedRequests()
        _ = f.forward(Self.request("default"), rule: Self.rule, now: t0)
        _ = f.forward(Self.request("tiny", timeout: 0), rule: Self.rule, now: t0)
        _ = f.forward(Self.request("huge", timeout: .double(1e9)), rule: Self.rule, now: t0)
        #expect(try f.awaitingReply(id: "default", topic: "T", now: t0).deadline == t0.addingTimeInterval(2 + 5))
        #expect(try f.awaitingReply(id: "tiny", topic: "T", now: t0).deadline == t0.addingTimeInterval(1 + 5))
        #expect(try f.awaitingReply(id: "huge", topic: "T", now: t0).deadline == t0.addingTimeInterval(300 + 5))
    }

    @Test("Past its capacity, a request is not forwarded")
    func forwardedCapacity() {
        var f = ForwardedRequests(capacity: 2)
        let taken = ["a", "b", "c"].map { f.forward(Self.request($0), rule: Self.rule, now: t0) }
        #expect(taken == [true, true, false])
    }

    @Test("Served files: found until they expire, refused past capacity")
    func payloads() {
        var p = PayloadRegistry(capacity: 1)
        let file = PayloadRegistry.File(payloadIds: ["c1", "c2"], size: 10, mimeType: "application/dicom", fileName: "a.dcm", expiresAt: t0.addingTimeInterval(60))
        let registered = [p.register(file, id: "f1"), p.register(file, id: "f2")]
        #expect(registered == [true, false])
        #expect(p.file("f1", now: t0) == file)
        #expect(p.file("f2", now: t0) == nil)
        #expect(p.file("f1", now: t0.addingTimeInterval(60)) == nil)
        p.expire(now: t0.addingTimeInterval(61))
        #expect(p.count == 0)
    }

    @Test("Echoes, counters, busy and the last error in /health")
    func status() {
        var s = BridgeState()
        s.sending("e1")
        #expect(s.isEcho("e1") && !s.isEcho("e2"))
        let firstBusy = s.busy("store full")
        let againBusy = s.busy("store full")
        #expect(firstBusy && !againBusy)
        #expect(s.status(upstream: "u", connected: true, queued: 1, queuedBytes: 0, overflowed: 0)["busy"] == "store full")
        s.sent()
        s.passedToFHIRcast()
        s.answered()
        s.refused()
        s.connectFailed("refused")
        let down = s.status(upstream: "u", connected: false, queued: 0, queuedBytes: 5, overflowed: 2)
        #expect(down["busy"] == nil)
        #expect(down["lastError"] == "refused")
        #expect(down["queuedBytes"] == 5)
        #expect(down["toCast"] == 1 && down["toFHIRcast"] == 1 && down["answered"] == 1 && down["refused"] == 1 && down["overflowed"] == 2)
        #expect(s.status(upstream: "u", connected: true, queued: 0, queuedBytes: 0, overflowed: 0)["lastError"] == nil)
        s.connected()
        #expect(s.lastError == nil)
    }
}
