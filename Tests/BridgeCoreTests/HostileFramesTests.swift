import BridgeCore
import CastCore
import FHIRcastCore
import Foundation
import Testing
import TestSupport

/// What an external Cast hub or a FHIRcast publisher sends, mutated from a fixed seed, through every pure step of the
/// bridge (issue #18, Docs/reliability.md): each input ends in a translation, a refusal or "ignored", never a trap.
@Suite("Hostile frames through the translator")
struct HostileFramesTests {
    static let translator = TranslatorTests.translator
    static let patient: JSONValue = ["key": "patient", "resource": ["resourceType": "Patient", "id": "p1"]]

    /// Frames a Cast hub sends the bridge: an event, a binary batch as fanned out, a request, a legacy get.
    static let castFrames: [JSONValue] = [
        ["id": "c1", "timestamp": "2026-01-08T01:37:05Z", "subscriber.name": "viewer", "subscriber.actor": ["id": "a"],
         "event": ["hub.topic": "T", "hub.event": "patient-open", "context": [patient], "context.versionId": "v1"]],
        ["id": "c2", "subscriber.name": "slicer",
         "event": ["hub.topic": "T", "hub.event": "dicom-send", "context": ["files": [
             ["fileName": "a.dcm", "byteLength": 5, "payloadIds": ["p1", "p2"], "chunkByteLengths": [3, 2], "expiresAt": "2026-01-08T01:37:05Z", "mimeType": "application/dicom"],
             ["fileName": "b.dcm", "url": "https://pacs.example.org/b.dcm"]]]]],
        ["id": "c3", "subscriber.name": "ohif", "event": ["hub.topic": "T", "hub.event": "status-request", "context": ["id": "q1", "dataType": "STATUS"]]],
        ["id": "c4", "subscriber.name": "ohif", "event": ["hub.topic": "T", "hub.event": "get-request", "context": ["requestId": "q2", "dataType": "PNGTHUMBNAIL"]]],
    ]

    /// Notifications and requests a FHIRcast app sends, with an attachment bound for Cast.
    static let notification: JSONValue = [
        "timestamp": "2026-01-08T01:37:05Z", "id": "f1",
        "event": ["hub.topic": "T", "hub.event": "org.castbridge.dicom_send", "context": [
            patient, ["key": "study", "resource": ["resourceType": "ImagingStudy", "id": "s1"]],
            ["key": "file", "attachment": attachment]]],
    ]
    static let attachment: JSONValue = ["title": "scan.dcm", "contentType": "application/dicom", "data": "AAEC", "size": 3]
    static let fhircastRequest: JSONValue = ["dataType": "STATUS", "timeoutSeconds": 1, "target.actor": "x"]
    static let castRequest: JSONValue = ["id": "r", "subscriber.name": "s", "event": ["hub.topic": "T", "hub.event": "status-request", "context": ["timeoutSeconds": 1]]]
    static let batchEnvelope: JSONValue = ["event": ["hub.topic": "T", "hub.event": "dicom-send", "context": ["files": [["fileName": "a.dcm", "byteLength": 3]]]]]

    static func mutate(_ value: JSONValue, _ random: inout SplitMix64) -> JSONValue {
        var out = value
        for _ in 0...random.next(upTo: 3) { out = Mutations.replaceRandomValue(in: out, &random) }
        return out
    }

    @Test("Issue 18: 4,000 seeded mutations of Cast frames and FHIRcast bodies through the translator, parsers and manifests")
    func mutatedInputs() {
        var random = SplitMix64(seed: 0x18_F2A3)
        var reached = (events: 0, requests: 0, ignored: 0, notifications: 0, envelopes: 0, refusals: 0)
        for _ in 0..<4_000 {
            let frame = Self.mutate(Self.castFrames[random.next(upTo: Self.castFrames.count)], &random)
            switch Self.translator.inbound(frame, newID: { "new" }, now: "2026-01-08T01:37:05Z") {
            case .event(let json):
                reached.events += 1
                let files = CastFile.files(in: frame["event"]?["context"])
                let entries = Attachments.entries(for: files, url: { "https://h/\($0)" }, sha1: { _ in nil }, data: { _ in [1] })
                let withFiles = Attachments.inserting(entries, into: json)
                if let n = try? NotificationParser.parse(withFiles) {
                    reached.notifications += 1
                    _ = Self.translator.castEnvelope(for: n)
                }
            case .request(let request):
                reached.requests += 1
                if let rule = Self.translator.rule(for: request), let name = rule.fhircast {
                    _ = Self.translator.forwardedEvent(request, as: name, id: "x", timestamp: "2026-01-08T01:37:05Z")
                }
            case .ignored:
                reached.ignored += 1
            }
            // Half the time the attachment alone, which a random walk from the root seldom reaches.
            var body = Self.mutate(Self.notification, &random)
            if random.next(upTo: 2) == 0, case .object(var root) = Self.notification, case .object(var event)? = root["event"],
                case .array(var context)? = event["context"]
            {
                context[2] = ["key": "file", "attachment": Self.mutate(Self.attachment, &random)]
                event["context"] = .array(context)
                root["event"] = .object(event)
                body = .object(root)
            }
            if let n = try? NotificationParser.parse(body) {
                if let files = try? Self.translator.outgoingFiles(for: n) {
                    reached.envelopes += Self.translator.castEnvelope(for: n, files: files) == nil ? 0 : 1
                    _ = Attachments.manifest(files)
                } else {
                    reached.refusals += 1
                }
            }
            _ = try? Self.translator.castRequest(topic: "T", body: Self.mutate(Self.fhircastRequest, &random), id: "i", timestamp: "2026-01-08T01:37:05Z")
            if let request = try? CastRequest.parse(Self.mutate(Self.castRequest, &random)) {
                #expect(request.timeoutSeconds.isFinite && request.timeoutSeconds >= 0 && request.timeoutSeconds <= CastRequest.maxTimeout)
            }
            if let manifest = try? CastBinaryManifest.parse(Self.mutate(Self.batchEnvelope, &random)) {
                #expect(manifest.declaredBytes >= 0)
            }
        }
        // Every path was taken often enough for the mutations to mean something.
        #expect(reached.events > 200 && reached.requests > 200 && reached.ignored > 200, "\(reached)")
        #expect(reached.notifications > 100 && reached.envelopes > 100 && reached.refusals > 50, "\(reached)")
    }

    @Test("Issue 18: byteLengths whose sum overflows declare Int.max, which no store reserves")
    func overflowingDeclaredBytes() throws {
        let huge: JSONValue = ["event": ["hub.topic": "T", "hub.event": "dicom-send", "context": ["files": [
            ["fileName": "a.dcm", "byteLength": .int(.max)], ["fileName": "b.dcm", "byteLength": .int(.max)]]]]]
        #expect(try CastBinaryManifest.parse(huge).declaredBytes == .max)
    }

    @Test("Issue 18: a Cast request's timeoutSeconds of nan, inf or a huge number becomes a time the hub can wait")
    func nonFiniteTimeouts() throws {
        for (given, expected): (JSONValue, Double) in [("nan", CastRequest.defaultTimeout), ("NaN", CastRequest.defaultTimeout), ("inf", CastRequest.maxTimeout), ("-inf", 0), (.double(1e308), CastRequest.maxTimeout), ("soon", CastRequest.defaultTimeout)] {
            let body: JSONValue = ["id": "r", "subscriber.name": "s", "event": ["hub.event": "status-request", "context": ["timeoutSeconds": given]]]
            #expect(try CastRequest.parse(body).timeoutSeconds == expected, "\(given)")
        }
    }
}
