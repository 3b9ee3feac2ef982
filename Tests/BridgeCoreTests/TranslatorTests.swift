import BridgeCore
import CastCore
import FHIRcastCore
import Foundation
import Testing

@Suite("Translation")
struct TranslatorTests {
    static let translator: Translator = {
        guard case .success(let set) = MappingFile.load([("default.yaml", DefaultMappings.yaml)]) else { fatalError() }
        return Translator(mappings: set, identity: BridgeIdentity(subscriberName: "castbridge-test", productName: "castbridge"))
    }()

    static let study: JSONValue = ["key": "study", "resource": ["resourceType": "ImagingStudy", "id": "s1"]]

    @Test("FHIRcast → Cast: lower-case name, id and timestamp kept, the bridge's identity, context unchanged")
    func toCast() throws {
        let n = EventNotification(
            timestamp: "2026-11-22T10:00:00.14Z", id: "evt-1",
            event: Event(topic: "T", name: "ImagingStudy-open", context: [Self.study]))
        let env = try #require(Self.translator.castEnvelope(for: n))
        #expect(env["id"] == "evt-1")
        #expect(env["timestamp"] == "2026-11-22T10:00:00.14Z")
        #expect(env["subscriber.name"] == "castbridge-test")
        #expect(env["subscriber.product.name"] == "castbridge")
        #expect(env["event"]?["hub.event"] == "imagingstudy-open")
        #expect(env["event"]?["hub.topic"] == "T")
        #expect(env["event"]?["context"] == [Self.study])
        #expect(env["event"]?["hub.source"] == nil)
    }

    @Test("FHIRcast → Cast: the extension gives target.* and subscriber.actor, and an object context back")
    func toCastExtension() throws {
        let ext: JSONValue = [
            "key": "extension",
            "data": [
                "org.castbridge.cast": [
                    "target.actor": "ID", "target.product.name": "3DSLICER-ID", "subscriber.actor": "EC",
                    "subscriber.name": "spoofed", "context": ["message": "hi", "level": "info"],
                ],
                "other.vendor": ["x": 1],
            ],
        ]
        let n = EventNotification(
            timestamp: "2026-11-22T10:00:00Z", id: "e2",
            event: Event(topic: "T", name: "org.castbridge.status_update", context: [ext]))
        let env = try #require(Self.translator.castEnvelope(for: n))
        #expect(env["event"]?["hub.event"] == "status-update")
        #expect(env["event"]?["context"] == ["message": "hi", "level": "info"])
        #expect(env["target.actor"] == "ID")
        #expect(env["target.product.name"] == "3DSLICER-ID")
        #expect(env["subscriber.actor"] == "EC")
        #expect(env["subscriber.name"] == "castbridge-test")  // never the extension's: echo suppression relies on it
    }

    @Test("FHIRcast → Cast: versionIds carried; SyncError and inbound-only names not sent; generation B marks hub.source")
    func toCastMore() throws {
        var n = EventNotification(
            timestamp: "2026-11-22T10:00:00Z", id: "e3",
            event: Event(topic: "T", name: "DiagnosticReport-update", context: [], versionId: "v2", priorVersionId: "v1"))
        let env = try #require(Self.translator.castEnvelope(for: n))
        #expect(env["event"]?["context.versionId"] == "v2")
        #expect(env["event"]?["context.priorVersionId"] == "v1")
        n.event.name = "SyncError"
        #expect(Self.translator.castEnvelope(for: n) == nil)
        n.event.name = "org.castbridge.subscription_removed"
        #expect(Self.translator.castEnvelope(for: n) == nil)
        n.event.name = "Observation-open"
        #expect(Self.translator.castEnvelope(for: n)?["event"]?["hub.event"] == "observation-open")
        var b = Self.translator
        b.dialect = .b
        #expect(b.castEnvelope(for: n)?["event"]?["hub.source"] == "castbridge-test")
    }

    static func inbound(_ frame: JSONValue) -> InboundCast {
        translator.inbound(frame, newID: { "generated" }, now: "2026-11-22T00:00:00Z")
    }

    @Test("Cast → FHIRcast: catalog name, id kept, host stripped, Cast fields in the extension, UTC timestamp")
    func toFHIRcast() throws {
        let frame: JSONValue = [
            "timestamp": "2026-11-22T11:00:00.5+01:00", "id": "PYCAST-1", "host": "127.0.0.1:2018",
            "subscriber.name": "VolView-ABC123", "subscriber.product.name": "VolView", "subscriber.actor": "ID",
            "event": ["hub.topic": "T", "hub.event": "ImagingStudy-Open", "context": [Self.study]],
        ]
        guard case .event(let json) = Self.inbound(frame) else {
            Issue.record("expected an event")
            return
        }
        let n = try NotificationParser.parse(json)
        #expect(n.id == "PYCAST-1")
        #expect(n.timestamp == "2026-11-22T10:00:00.5Z")
        #expect(n.event.name == "ImagingStudy-open")
        #expect(n.event.context.first == Self.study)
        let fields = CastExtension.extract(from: n.event.context).fields
        #expect(fields == ["subscriber.name": "VolView-ABC123", "subscriber.product.name": "VolView", "subscriber.actor": "ID"])
        #expect(!"\(json)".contains("2018"))
    }

    @Test("Cast → FHIRcast: an object context travels in the extension under a proprietary name; no id → a new one")
    func objectContext() throws {
        let frame: JSONValue = [
            "event": ["hub.topic": "T", "hub.event": "annotation-update", "context": ["annotations": [1, 2]]],
        ]
        guard case .event(let json) = Self.inbound(frame) else {
            Issue.record("expected an event")
            return
        }
        let n = try NotificationParser.parse(json)
        #expect(n.event.name == "org.castbridge.annotation_update")
        #expect(n.id == "generated")
        #expect(n.timestamp == "2026-11-22T00:00:00Z")
        #expect(CastExtension.extract(from: n.event.context).fields["context"] == ["annotations": [1, 2]])
        // …and back: the object context is restored.
        let back = try #require(Self.translator.castEnvelope(for: n))
        #expect(back["event"]?["context"] == ["annotations": [1, 2]])
        #expect(back["event"]?["hub.event"] == "annotation-update")
    }

    @Test("Cast frames that are not events are ignored: control, subscription, heartbeat, own, response, unmapped")
    func ignored() {
        let cases: [JSONValue] = [
            ["type": "connection.established", "endpoint": "x"],
            ["hub.mode": "subscribe", "hub.topic": "T"],
            ["timestamp": "x"],
            ["event": ["hub.topic": "T", "hub.event": "heartbeat"]],
            ["subscriber.name": "CASTBRIDGE-TEST", "event": ["hub.topic": "T", "hub.event": "patient-open", "context": []]],
            ["event": ["hub.topic": "T", "hub.event": "status-response", "context": [:]]],
            ["event": ["hub.topic": "T", "hub.event": "viewer-sync", "context": []]],
            ["event": ["hub.event": "patient-open", "context": []]],
            "text",
        ]
        for frame in cases {
            guard case .ignored = Self.inbound(frame) else {
                Issue.record("not ignored: \(frame)")
                continue
            }
        }
    }

    @Test("Requests: status-request answered from context; get-request (generation B) too; forwarded form")
    func requests() throws {
        let frame: JSONValue = [
            "id": "fan-1", "subscriber.name": "3DSLICER-ID-X", "target.actor": "*",
            "event": ["hub.topic": "T", "hub.event": "status-request", "context": ["id": "corr-1", "dataType": "STATUS"]],
        ]
        guard case .request(let r) = Self.inbound(frame) else {
            Issue.record("expected a request")
            return
        }
        #expect(r.correlationID == "corr-1")
        #expect(r.dataType == "STATUS")
        let rule = try #require(Self.translator.rule(for: r))
        #expect(rule.action == .answerFromContext)
        var ctx = TopicContext(now: Date())
        let open = EventNotification(
            timestamp: "2026-11-22T10:00:00Z", id: "o1",
            event: Event(topic: "T", name: "ImagingStudy-open", context: [Self.study, CastExtension.entry(["subscriber.name": "x"])!]))
        _ = try ctx.apply(open, now: Date(), config: HubConfiguration(), newVersion: { "v1" })
        let data = Translator.contextAnswer(ctx)
        #expect(data == ["context.type": "ImagingStudy", "context": [Self.study]])
        #expect(Translator.contextAnswer(nil) == ["context.type": "", "context": []])
        let reply = Self.translator.responseFrame(
            to: r, responseEvent: rule.castResponseEvent, data: data, actor: rule.actor, id: "r1", timestamp: "t")
        #expect(reply["event"]?["hub.event"] == "status-response")
        #expect(reply["event"]?["context"]?["id"] == "corr-1")
        #expect(reply["actor"] == "WORKLIST_CLIENT")
        #expect(reply["subscriber.name"] == "castbridge-test")

        let legacy: JSONValue = ["event": ["hub.topic": "T", "hub.event": "get-request", "context": ["requestId": "q9", "dataType": "STATUS"]]]
        guard case .request(let l) = Self.inbound(legacy) else {
            Issue.record("expected a legacy request")
            return
        }
        #expect(l.isLegacy && l.correlationID == "q9")
        #expect(Self.translator.rule(for: l)?.action == .answerFromContext)
        let legacyReply = Self.translator.responseFrame(to: l, responseEvent: "x", data: data, actor: "WORKLIST_CLIENT", id: "r2", timestamp: "t")
        #expect(legacyReply["event"]?["hub.event"] == "get-response")
        #expect(legacyReply["event"]?["context"]?["requestId"] == "q9")

        let forwarded = Self.translator.forwardedEvent(r, as: "com.example.status_request", id: "f1", timestamp: "2026-11-22T10:00:00Z")
        let n = try NotificationParser.parse(forwarded)
        #expect(CastExtension.extract(from: n.event.context).fields["context"]?["id"] == "corr-1")
        #expect(CastExtension.extract(from: n.event.context).fields["subscriber.name"] == "3DSLICER-ID-X")

        let sceneview: JSONValue = ["event": ["hub.topic": "T", "hub.event": "sceneview-request", "context": ["id": "c"]]]
        if case .request(let s) = Self.inbound(sceneview) { #expect(Self.translator.rule(for: s) == nil) }
    }

    @Test("The FHIRcast request endpoint body becomes a Cast request; every bad field is named")
    func requestBody() throws {
        let r = try Self.translator.castRequest(
            topic: "T", body: ["dataType": "STATUS", "target.actor": "ID", "timeoutSeconds": .double(1.5)], id: "q1", timestamp: "t")
        #expect(r.eventName == "status-request")
        #expect(r.requester == "castbridge-test")
        #expect(r.timeoutSeconds == 1.5)
        #expect(r.targetActor == "ID")
        let body = r.body
        #expect(body["event"]?["hub.topic"] == "T")
        #expect(body["event"]?["context"]?["dataType"] == "STATUS")
        #expect(try CastRequest.parse(body).eventName == "status-request")
        let bad: [(JSONValue, String)] = [
            ([], "JSON object"),
            ([:], "missing 'dataType'"),
            (["dataType": 3], "'dataType' must be"),
            (["dataType": "STATUS", "timeoutSeconds": 301], "at most 300"),
            (["dataType": "STATUS", "timeoutSeconds": "2"], "must be a number"),
            (["dataType": "STATUS", "target.actor": 1], "'target.actor' must be a string"),
            (["dataType": "STATUS", "context": []], "'context' must be an object"),
            (["dataType": "STATUS", "colour": "red"], "unknown field 'colour'"),
            (["dataType": "STATUS", "target.subscriber.name": "x"], "generation B"),
        ]
        for (input, message) in bad {
            #expect(throws: HubError.self) { try Self.translator.castRequest(topic: "T", body: input, id: "q", timestamp: "t") }
            do {
                _ = try Self.translator.castRequest(topic: "T", body: input, id: "q", timestamp: "t")
            } catch {
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
    }
}

@Suite("Outbox, recent ids, backoff")
struct DeliveryTests {
    @Test("The outbox keeps order, bounds count and waiting time, and puts a failed send back at the head")
    func outbox() {
        let t0 = Date()
        var box = Outbox<Int>(capacity: 3, maxWait: 10)
        #expect(box.enqueue(1, now: t0) && box.enqueue(2, now: t0) && box.enqueue(3, now: t0.addingTimeInterval(5)))
        let fourth = box.enqueue(4, now: t0)
        #expect(!fourth)  // full
        #expect(box.next() == 1)
        #expect(box.next() == nil)  // one in flight at a time
        box.retry()
        #expect(box.next() == 1)
        box.sent()
        #expect(box.count == 2)
        #expect(box.expired(now: t0.addingTimeInterval(11)) == [2])
        #expect(box.next() == 3)
        #expect(box.expired(now: t0.addingTimeInterval(100)) == [])  // never the one in flight
        #expect(box.abandon() == 3)
        #expect(box.isEmpty)
        let fifth = box.enqueue(5, now: t0)
        #expect(fifth)
        #expect(box.drain() == [5])
    }

    @Test("The outbox bounds the bytes its events hold, and gives them back as events leave in every way")
    func outboxBytes() {
        let t0 = Date()
        var box = Outbox<Int>(capacity: 10, maxBytes: 100, maxWait: 10)
        let first = box.enqueue(1, bytes: 60, now: t0)
        #expect(first && box.bytes == 60)
        #expect(box.hasRoom(forBytes: 40) && !box.hasRoom(forBytes: 41))
        let tooMany = box.enqueue(2, bytes: 41, now: t0)
        #expect(!tooMany && box.overflowed == 1)
        let third = box.enqueue(3, bytes: 40, now: t0.addingTimeInterval(5))
        #expect(third && box.bytes == 100)
        let noFiles = box.enqueue(4, now: t0.addingTimeInterval(5))
        #expect(noFiles)  // an event without files always fits the byte budget
        let head = box.next()
        #expect(head == 1)
        box.retry()
        #expect(box.bytes == 100)  // put back, still held
        let again = box.next()
        #expect(again == 1)
        box.sent()
        #expect(box.bytes == 40)
        let expired = box.expired(now: t0.addingTimeInterval(16))
        #expect(expired == [3, 4] && box.bytes == 0)
        let whole = box.enqueue(5, bytes: 100, now: t0)
        let taken = box.next()
        #expect(whole && taken == 5)
        let abandoned = box.abandon()
        #expect(abandoned == 5 && box.bytes == 0)
        let sixth = box.enqueue(6, bytes: 70, now: t0)
        let drained = box.drain()
        #expect(sixth && drained == [6] && box.bytes == 0)
    }

    @Test("Recent ids are bounded; backoff doubles to its cap with jitter")
    func recentAndBackoff() {
        var ids = RecentIDs(capacity: 2)
        ids.insert("a")
        ids.insert("b")
        ids.insert("c")
        #expect(!ids.contains("a") && ids.contains("b") && ids.contains("c"))
        var backoff = Backoff(base: 1, max: 8)
        #expect([0.999, 0.999, 0.999, 0.999, 0.999].map { backoff.next(unit: $0) }.map { $0.rounded() } == [1, 2, 4, 8, 8])
        backoff.reset()
        #expect(backoff.next(unit: 0) == 0.5)
    }
}
