import BridgeCore
import CastbridgeServer
import FHIRcastCore
import Foundation
import Testing

/// Publishing and delivery (checklist §1.4, §1.6, §1.7).
@Suite("Events (live)")
struct EventTests {
    @Test("C26 C27: an accepted event reaches every subscriber once, the requester included, with the request's id")
    func broadcastOnceWithRequestID() async throws {
        try await TestServer.with { server in
            let a = try await server.subscriber(topic: "b", events: "Patient-open").socket
            let b = try await server.subscriber(topic: "b", events: "patient-open").socket
            let c = try await server.subscriber(topic: "b", events: "Patient-open").socket
            let result = try await server.publish(Events.patientOpen(topic: "b", id: "request-X"))
            #expect(result.status == 200)
            for socket in [a, b, c] {
                #expect(try await socket.nextJSON()?["id"] == "request-X")
            }
            for socket in [a, b, c] { #expect(await socket.expectSilence(.milliseconds(300)) == nil) }
        }
    }

    @Test("C19: nothing is delivered that was not subscribed")
    func onlySubscribedEvents() async throws {
        try await TestServer.with { server in
            let (socket, _, _) = try await server.subscriber(topic: "only", events: "Patient-open")
            _ = try await server.publish(Events.patientClose(topic: "only"))
            // (An Encounter-open would imply a Patient-open, C29; a study without a patient implies nothing.)
            _ = try await server.publish(Events.notification("ImagingStudy-open", topic: "only", context: [["key": "study", "resource": ["resourceType": "ImagingStudy", "id": "s"]]]))
            let outcome: JSONValue = ["resourceType": "OperationOutcome", "issue": [["severity": "warning", "code": "processing"]]]
            _ = try await server.publish(Events.notification("SyncError", topic: "only", context: [["key": "operationoutcome", "resource": outcome]]))
            _ = try await server.publish(Events.notification("org.example.patientopenextra", topic: "only", context: []))
            _ = try await server.publish(Events.notification("Patient-open", topic: "other-topic", context: [Events.patient("p")]))
            #expect(await socket.expectSilence(.milliseconds(800)) == nil)
        }
    }

    @Test("C25 C28: the notification shape; context passed through unchanged; UTC timestamps with Z")
    func notificationShape() async throws {
        try await TestServer.with { server in
            let (socket, _, _) = try await server.subscriber(topic: "shape", events: "Patient-open")
            let patient: JSONValue = [
                "key": "patient",
                "resource": ["resourceType": "Patient", "id": "x", "identifier": [["system": "urn:mrn", "value": "123"]], "multipleBirthInteger": 2, "active": true, "weird": nil],
            ]
            let sent = Events.notification("Patient-open", topic: "shape", id: "s1", timestamp: "2026-03-01T10:00:00.5+02:00", context: [patient])
            _ = try await server.publish(sent)
            let got = try #require(try await socket.nextJSON())
            #expect(got["timestamp"] == "2026-03-01T08:00:00.5Z")
            #expect(got["event"]?["hub.topic"] == "shape")
            #expect(got["event"]?["context"] == .array([patient]))
            // A timestamp without a zone is read as UTC and emitted with Z.
            _ = try await server.publish(Events.notification("Patient-open", topic: "shape", id: "s2", timestamp: "2018-01-08T01:37:05.14", context: [patient]))
            #expect(try await socket.nextJSON()?["timestamp"] == "2018-01-08T01:37:05.14Z")
        }
    }

    @Test("C37: POST to hub.url/{topic} is accepted, a mismatching path topic is a 400; application/fhir+json accepted (C2)")
    func topicPathAndFHIRJSON() async throws {
        try await TestServer.with { server in
            let (socket, _, _) = try await server.subscriber(topic: "path", events: "Patient-open")
            let ok = try await server.postJSON("/path", Events.patientOpen(topic: "path", id: "via-path"), contentType: "application/fhir+json")
            #expect(ok.status == 200)
            #expect(try await socket.nextJSON()?["id"] == "via-path")
            let bad = try await server.postJSON("/elsewhere", Events.patientOpen(topic: "path"))
            #expect(bad.status == 400)
            #expect(bad.body.contains("differs"))
            #expect(await socket.expectSilence(.milliseconds(300)) == nil)
        }
    }

    @Test("C36: missing timestamp, id or event, and missing catalog keys, are 400 with a reason; nothing is broadcast")
    func publishValidation() async throws {
        try await TestServer.with { server in
            let (socket, _, _) = try await server.subscriber(topic: "v", events: "Patient-open,DiagnosticReport-open")
            let cases: [(JSONValue, String)] = [
                (["id": "1", "event": ["hub.topic": "v", "hub.event": "Patient-open", "context": [Events.patient("p")]]], "timestamp"),
                (["timestamp": "2026-01-01T00:00:00Z", "event": ["hub.topic": "v", "hub.event": "Patient-open", "context": [Events.patient("p")]]], "'id'"),
                (["timestamp": "2026-01-01T00:00:00Z", "id": "1"], "'event'"),
                (["timestamp": "yesterday", "id": "1", "event": ["hub.topic": "v", "hub.event": "Patient-open", "context": [Events.patient("p")]]], "ISO 8601"),
                (Events.notification("Patient-open", topic: "v", context: []), "patient"),
                (Events.notification("DiagnosticReport-open", topic: "v", context: [Events.patient("p")]), "report"),
                (Events.notification("com.example.bad-name", topic: "v", context: []), "dash"),
                (Events.notification("*", topic: "v", context: []), "wildcard"),
                (["timestamp": "2026-01-01T00:00:00Z", "id": 5, "event": ["hub.topic": "v", "hub.event": "Patient-open", "context": [Events.patient("p")]]], "'id' must be a string"),
            ]
            for (body, reason) in cases {
                let result = try await server.publish(body)
                #expect(result.status == 400, "\(body)")
                #expect(result.contentType.hasPrefix("text/plain"))
                #expect(result.body.contains(reason), "\(result.body) lacks \(reason)")
                #expect(result.body.split(separator: "\n").count == 1)
            }
            #expect(await socket.expectSilence(.milliseconds(300)) == nil)
        }
    }

    @Test("C39 C40: proprietary reverse-domain events (declared by a mapping file), Home-open, UserLogout and selects are distributed like any other")
    func otherEventsForwarded() async throws {
        let mappings = try MappingFile.load([
            ("default.yaml", DefaultMappings.yaml), ("site.yaml", "events: [{fhircast: org.example.annotationupdate, cast: example-annotation}]"),
        ]).get()
        try await TestServer.with({ $0.mappings = mappings }) { server in
            let (socket, _, _) = try await server.subscriber(topic: "o", events: "org.example.annotationupdate,Home-open,UserLogout")
            _ = try await server.publish(Events.notification("org.example.annotationupdate", topic: "o", id: "p1", context: [["key": "extension", "data": ["a": 1]]]))
            _ = try await server.publish(Events.notification("home-open", topic: "o", id: "h1", context: []))
            _ = try await server.publish(Events.notification("UserLogout", topic: "o", id: "u1", context: [["key": "parameters", "resource": ["resourceType": "Parameters"]]]))
            let frames = [try await socket.nextJSON(), try await socket.nextJSON(), try await socket.nextJSON()]
            #expect(frames.map { $0?["id"] } == ["p1", "h1", "u1"])
            #expect(frames[1]?["event"]?["hub.event"] == "Home-open")
        }
    }

    @Test("C18 C38: a new subscriber gets the current context after the confirmation, with the original id and timestamp")
    func currentContextOnSubscribe() async throws {
        try await TestServer.with { server in
            try await server.openTopic("cc")
            _ = try await server.publish(Events.patientOpen(topic: "cc", patient: "A", id: "open-A", timestamp: "2026-02-02T02:02:02.000Z"))
            let (socket, _, confirmation) = try await server.subscriber(topic: "cc", events: "Patient-open,Patient-close")
            #expect(confirmation["hub.mode"] == "subscribe")
            let replay = try #require(try await socket.nextJSON())
            #expect(replay["id"] == "open-A")
            #expect(replay["timestamp"] == "2026-02-02T02:02:02.000Z")
            // Filtered by events: a subscriber of Patient-close alone gets no replay.
            let (closeOnly, _, _) = try await server.subscriber(topic: "cc", events: "Patient-close")
            #expect(await closeOnly.expectSilence(.milliseconds(300)) == nil)
            // After the close there is no current context: only the confirmation.
            _ = try await server.publish(Events.patientClose(topic: "cc", patient: "A"))
            let (late, _, _) = try await server.subscriber(topic: "cc", events: "Patient-open")
            #expect(await late.expectSilence(.milliseconds(300)) == nil)
        }
    }

    @Test("C38: the most recent open is current; closing it leaves none even with others open")
    func mostRecentOpenIsCurrent() async throws {
        try await TestServer.with { server in
            try await server.openTopic("m")
            _ = try await server.publish(Events.patientOpen(topic: "m", patient: "A"))
            _ = try await server.publish(Events.patientOpen(topic: "m", patient: "B"))
            var ctx = try #require(try await server.get("/fhircast/STU3/m").json)
            #expect(ctx["context"]?.arrayValue?.first?["resource"]?["id"] == "B")
            _ = try await server.publish(Events.patientClose(topic: "m", patient: "B"))
            ctx = try #require(try await server.get("/fhircast/STU3/m").json)
            #expect(ctx["context.type"] == "")
            #expect(ctx["context"] == [])
        }
    }

    @Test("C41 C44: GET current context is the STU3 object on STU3 and the bare array on STU2")
    func getCurrentContext() async throws {
        try await TestServer.with { server in
            // C43: a topic nobody subscribed to and that has no context is a 404 with the reason.
            let unknown = try await server.get("/fhircast/STU3/g")
            #expect(unknown.status == 404)
            #expect(unknown.body.contains("unknown topic 'g'"))
            try await server.openTopic("g")
            let empty = try await server.get("/fhircast/STU3/g")
            #expect(empty.status == 200)
            #expect(empty.json == ["context.type": "", "context": []])
            #expect(try await server.get("/fhircast/STU2/g").json == [])
            _ = try await server.publish(Events.patientOpen(topic: "g", patient: "P"))
            let stu3 = try #require(try await server.get("/fhircast/STU3/g").json)
            #expect(stu3["context.type"] == "Patient")
            #expect(stu3["context.versionId"]?.stringValue?.isEmpty == false)
            let entries = try #require(stu3["context"]?.arrayValue)
            #expect(entries.contains(Events.patient("P")))
            let stu2 = try #require(try await server.get("/fhircast/STU2/g").json)
            #expect(stu2 == [Events.patient("P")])
        }
    }

    @Test("STU2 subscribers share topics with STU3 ones and see lower-case event names")
    func stu2SeesLowercase() async throws {
        try await TestServer.with { server in
            let (old, _, confirmation) = try await server.subscriber(topic: "mix", events: "Patient-open", flavor: .stu2)
            #expect(confirmation["hub.events"] == "patient-open")
            let (new, _, _) = try await server.subscriber(topic: "mix", events: "Patient-open")
            _ = try await server.publish(Events.patientOpen(topic: "mix", id: "m1"), flavor: .stu2)
            #expect(try await old.nextJSON()?["event"]?["hub.event"] == "patient-open")
            #expect(try await new.nextJSON()?["event"]?["hub.event"] == "Patient-open")
        }
    }

    @Test("C29: subscribers of Patient-open alone get the Patient-open implied by an Encounter-open, live and on connect")
    func impliedOpensLive() async throws {
        try await TestServer.with { server in
            let (patientOnly, _, _) = try await server.subscriber(topic: "imp", events: "Patient-open")
            let (encounterApp, _, _) = try await server.subscriber(topic: "imp", events: "Encounter-open,Patient-open")
            let encounterOpen = Events.notification(
                "Encounter-open", topic: "imp", id: "enc-1", timestamp: "2026-05-05T05:05:05Z",
                context: [["key": "encounter", "resource": ["resourceType": "Encounter", "id": "E"]], Events.patient("P")])
            #expect(try await server.publish(encounterOpen).status == 200)
            let implied = try #require(try await patientOnly.nextJSON())
            #expect(implied["event"]?["hub.event"] == "Patient-open")
            #expect(implied["timestamp"] == "2026-05-05T05:05:05Z")
            #expect(implied["event"]?["context"] == [Events.patient("P")])
            #expect(try await encounterApp.nextJSON()?["id"] == "enc-1")
            #expect(await encounterApp.expectSilence(.milliseconds(300)) == nil)
            // A late joiner that takes Patient-open only gets the implied open as its current context.
            let (late, _, _) = try await server.subscriber(topic: "imp", events: "Patient-open")
            #expect(try await late.nextJSON()?["event"]?["context"] == [Events.patient("P")])
        }
    }
}
