import FHIRcastCore
import Testing

@testable import CastCore

@Suite("Cast core")
struct CastCoreTests {
    func fields(_ pairs: [String: JSONValue]) -> CastFields { CastFields(pairs) }

    @Test("Subscribe keys: underscore spellings, actors as JSON string or bare, client_info filtered, default name")
    func subscribeParsing() throws {
        let sub = try CastSubscription.parse(
            fields([
                "hub_mode": "subscribe", "hub_topic": "T", "hub_events": "*", "subscriber.actors": "[\"ID\",\"EC\"]",
                "subscriber_client_info": "{\"productName\":\"VolView\",\"secret\":\"x\"}", "hub.lease": "60",
            ]), endpoint: "e")
        #expect(sub.topic == "T" && sub.leaseSeconds == 60 && sub.name == "unknown")
        #expect(!sub.isWebSocket)  // no channel type: WebSub, as on the reference
        #expect(sub.actors == ["ID", "EC"])
        #expect(sub.clientInfo == ["productName": "VolView"])
        #expect(try CastSubscription.parse(fields(["hub.topic": "T", "hub.events": "a", "subscriber.actors": "WORKLIST_CLIENT"]), endpoint: "e").actors == ["WORKLIST_CLIENT"])
        #expect(throws: CastError.self) { try CastSubscription.parse(fields(["hub.topic": "T", "hub.events": "a", "hub.lease_seconds": "soon"]), endpoint: "e") }
        #expect(throws: CastError.self) { try CastSubscription.parse(fields(["hub.events": "a"]), endpoint: "e") }
    }

    @Test("Event matching: exact set (default) versus the reference's substring rule")
    func matching() {
        let subscribed = "ImagingStudy-Open,Patient-open"
        #expect(CastEventMatching.exact.matches(event: "imagingstudy-open", subscribed: subscribed))
        #expect(!CastEventMatching.exact.matches(event: "open", subscribed: subscribed))
        #expect(CastEventMatching.substring.matches(event: "open", subscribed: subscribed))
        #expect(CastEventMatching.substring.matches(event: "t-op", subscribed: subscribed))
        #expect(CastEventMatching.exact.matches(event: "anything", subscribed: "*"))
    }

    @Test("Routing: echo suppression by name (case-insensitive), target.actor exact, product, subscriber name; * means any")
    func routing() throws {
        var sub = try CastSubscription.parse(fields(["hub.topic": "T", "hub.events": "*", "subscriber.name": "Viewer", "subscriber.actors": "[\"ID\"]", "subscriber.product.name": "OHIF", "subscriber.client_info": "{\"productName\":\"Other\"}"]), endpoint: "e")
        sub.bound = true
        #expect(!CastRouting(envelope: ["subscriber.name": "VIEWER"]).admits(sub))
        #expect(!CastRouting(envelope: ["publisher": "viewer"]).admits(sub))
        #expect(CastRouting(envelope: ["subscriber.name": "Other", "target.actor": "ID"]).admits(sub))
        #expect(!CastRouting(envelope: ["target.actor": "id"]).admits(sub))
        #expect(CastRouting(envelope: ["target.actor": "*", "target.product.name": "*", "target.subscriber.name": "*"]).admits(sub))
        #expect(!CastRouting(envelope: ["target.product.name": "VolView"]).admits(sub))
        #expect(CastRouting(envelope: ["target.subscriber.name": "viewer"]).admits(sub))
    }

    @Test("Publish: the envelope as-is minus subscriber.product.version plus host; 400 without a topic; inline binary refused")
    func publish() throws {
        var state = CastHubState()
        _ = try state.subscribe(fields(["hub.topic": "T", "hub.events": "annotation-update", "hub.channel.type": "websocket"]), endpoint: "a")
        _ = state.bind("a")
        let body: JSONValue = ["subscriber.name": "X", "subscriber.product.version": "1", "event": ["hub.topic": "T", "hub.event": "Annotation-Update", "context": ["k": 1]]]
        let delivery = try state.publish(body, host: "h:1")
        #expect(delivery.endpoints == ["a"])
        #expect(delivery.envelope["host"] == "h:1")
        #expect(delivery.envelope["subscriber.product.version"] == nil)
        #expect(delivery.envelope["event"]?["hub.event"] == "Annotation-Update")
        #expect(throws: CastError(400, "Missing event.hub.topic for publish request")) { try state.publish(["event": ["hub.event": "x"]], host: nil) }
        #expect(throws: CastError.self) { try state.publish(["event": ["hub.topic": "T", "hub.event": "dicom-send", "context": ["files": [["fileName": "a.dcm", "data": "AAAA"]]]]], host: nil) }
        #expect(CastHubState.isBinaryEvent("NIfTI-send") && CastHubState.isBinaryEvent("png_thumb") && !CastHubState.isBinaryEvent("pngx"))
    }

    @Test("Requests: targets by name, the requester excluded, collation with missing and timeout")
    func requests() throws {
        var state = CastHubState()
        for (endpoint, name) in [("a", "Slicer"), ("b", "OHIF"), ("c", "OHIF"), ("r", "Asker")] {
            _ = try state.subscribe(fields(["hub.topic": "T", "hub.events": "status-request", "subscriber.name": .string(name), "hub.channel.type": "websocket"]), endpoint: endpoint)
            _ = state.bind(endpoint)
        }
        let request = try CastRequest.parse(["subscriber.name": "Asker", "id": "c1", "event": ["hub.topic": "T", "hub.event": "STATUS-request", "context": ["timeoutSeconds": 1000]]])
        #expect(request.dataType == "status" && request.timeoutSeconds == 300 && request.eventName == "status-request")
        let (pending, frames) = state.startRequest(request, id: "f1", timestamp: "t")
        #expect(pending.expected == ["Slicer", "OHIF"])
        #expect(frames.map(\.endpoint) == ["a", "b", "c"])
        #expect(frames.first?.frame["event"]?["context"]?["id"] == "c1")
        let response: JSONValue = ["id": "env-1", "subscriber.name": "Slicer", "actor": "ID", "event": ["hub.event": "status-response", "context": ["id": "c1", "data": ["ok": true]]]]
        #expect(state.received(response, from: "a") == "c1")
        #expect(state.received(response, from: "a") == nil)  // duplicate envelope id
        #expect(!state.isComplete("c1"))
        let finished = state.finishRequest("c1", timedOut: true)
        let body = try #require(finished)
        #expect(body["ok"] == false)
        #expect(body["missing"] == ["OHIF"])
        #expect(body["timedOut"] == true)
        #expect(body["responses"]?.arrayValue?.first?["data"] == ["ok": true])
        #expect(throws: CastError(400, "Missing 'subscriber.name' parameter")) { try CastRequest.parse(["id": "x", "event": ["hub.event": "a-request"]]) }
        #expect(throws: CastError(400, "event.hub.event must be a *-request event name")) { try CastRequest.parse(["subscriber.name": "a", "id": "x", "event": ["hub.event": "a-response"]]) }
        #expect(throws: CastError(400, "Missing 'id' on cast request body")) { try CastRequest.parse(["subscriber.name": "a", "event": ["hub.event": "a-request"]]) }
        #expect(CastRequest.dataType(forRequest: "pngthumbnail-request") == "PNGTHUMBNAIL")
    }

    @Test("bindID keeps what follows /bind/")
    func bindID() {
        #expect(CastHubState.bindID("wss://127.0.0.1:2018/bind/abc-123") == "abc-123")
        #expect(CastHubState.bindID("abc") == "abc")
    }

    @Test("Conferences: attendees deduplicated without * and the host; the conference pass skips the publisher and sockets already served")
    func conferences() throws {
        let conf = try CastConference.parse(["user": "H", "title": "T", "topics": "A, *, H, A,B"])
        #expect(conf.hostTopic == "H" && conf.topics == ["A", "B"])
        #expect(throws: CastError(400, "title is required")) { try CastConference.parse(["hostTopic": "H"]) }

        var state = CastHubState()
        for (endpoint, topic, name) in [("h", "H", "Host"), ("a", "A", "Att"), ("x", "X", "Out")] {
            _ = try state.subscribe(fields(["hub.topic": .string(topic), "hub.events": "patient-open", "subscriber.name": .string(name), "hub.channel.type": "websocket"]), endpoint: endpoint)
            _ = state.bind(endpoint)
        }
        let (_, start) = state.createConference(conf, id: "i", timestamp: "t")
        #expect(start.endpoints == ["h", "a"])
        let delivery = try state.publish(["subscriber.name": "Host", "event": ["hub.topic": "H", "hub.event": "annotation-update"]], host: nil)
        #expect(delivery.endpoints == ["a"])
        let direct = try state.publish(["subscriber.name": "Out", "event": ["hub.topic": "A", "hub.event": "patient-open"]], host: nil)
        #expect(direct.endpoints == ["a", "h"])
    }

    @Test("File-name policy: allowlist, compound suffixes, path segments, dangerous double extensions, error codes")
    func fileNames() throws {
        for ok in ["CT.1.dcm", "brain.nii.gz", "seg.NRRD", "a.tar.gz", "shot.jpeg"] {
            try CastFilenamePolicy.validate(ok)
        }
        func code(_ name: String) -> String? {
            do {
                try CastFilenamePolicy.validate(name)
                return nil
            } catch {
                return error.detail["code"]?.stringValue
            }
        }
        #expect(code("") == "empty_file_name")
        #expect(code("../etc/passwd.dcm") == "invalid_file_name")
        #expect(code("dir/a.dcm") == "invalid_file_name")
        #expect(code(".hidden.dcm") == "invalid_file_name")
        #expect(code("virus.exe") == "unsupported_file_extension")
        #expect(code("scan.exe.dcm") == "double_extension")
        var state = CastHubState()
        #expect(throws: CastError.self) {
            try state.publish(["event": ["hub.topic": "T", "hub.event": "dicom-send", "context": ["files": [["fileName": "x.sh.dcm", "url": "https://a/b"]]]]], host: nil)
        }
    }
}
