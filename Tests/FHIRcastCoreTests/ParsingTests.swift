import Foundation
import Testing

@testable import FHIRcastCore

@Suite("Parsing and validation")
struct ParsingTests {
    @Test(
        "C25: timestamps normalised to UTC with Z, fractional digits kept",
        arguments: [
            ("2018-01-08T01:37:05.14", "2018-01-08T01:37:05.14Z"),
            ("2018-01-08T01:37:05.14Z", "2018-01-08T01:37:05.14Z"),
            ("2018-01-08t01:37:05z", "2018-01-08T01:37:05Z"),
            ("2026-03-01T10:00:00.5+02:00", "2026-03-01T08:00:00.5Z"),
            ("2026-03-01T00:30:00-0130", "2026-03-01T02:00:00Z"),
            ("2026-03-01T00:30:00+01", "2026-02-28T23:30:00Z"),
            (" \t2026-03-01T00:30:00.123456789Z\u{00A0}", "2026-03-01T00:30:00.123456789Z"),
            ("2026-03-01T00:30:00-00:00", "2026-03-01T00:30:00Z"),
            ("2024-02-29T23:59:59Z", "2024-02-29T23:59:59Z"), ("2000-02-29T00:00:00Z", "2000-02-29T00:00:00Z"),
        ])
    func timestamps(input: String, expected: String) {
        #expect(Timestamp.normalize(input) == expected)
    }

    @Test("Invalid timestamps are refused", arguments: ["", "yesterday", "2026-13-01T00:00:00Z", "2026-01-01", "2026-01-01T00:00:00+2", "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00.1234567890Z", "2026-01-01T00:00:00+02:0", "2026-01-01T00:00:00+0200Z", "2026-01-01T00:00:00+02-00",
        "2026-01-01T00:00:00Zulu", "2026-01-01T00:00:00 Z", "2026-01-01T00:00:00\u{00E9}", "2026-01-01T00:00:00.5.5Z", "2026-02-30T00:00:00Z",
        "2025-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01 00:00:00Z",
        "2026/01/01T00:00:00Z", "+026-01-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z", "2024-06-30T23:59:60Z"])
    func badTimestamps(input: String) {
        #expect(Timestamp.normalize(input) == nil)
    }

    @Test("Form bodies: + and %XX decoded, order kept, duplicates found, broken escapes refused")
    func formFields() throws {
        let f = try FormFields.parse("hub.topic=a+b%2Fc&hub.events=Patient-open&hub.topic=x&flag")
        #expect(f.value("hub.topic") == "a b/c")
        #expect(f.value("flag") == "")
        #expect(f.duplicatedNames == ["hub.topic"])
        #expect(throws: HubError.self) { try FormFields.parse("a=%G1") }
    }

    @Test("C12: event lists are sets, case-insensitive, canonical casing for catalog names")
    func eventLists() {
        #expect(EventName.parseList("patient-open, Patient-OPEN,SyncError,,org.x.y") == ["Patient-open", "SyncError", "org.x.y"])
    }

    @Test("C39: event-name rules")
    func eventNames() {
        for ok in ["Patient-open", "PATIENT-CLOSE", "Observation-open", "org.example.annotationupdate", "com.acme.my_event", "home-open"] {
            #expect(EventCatalog.problem(withName: ok) == nil, "\(ok)")
        }
        for bad in ["", "*", "Patient-*", "org.example.annotation-update", "heartbeat", "annotation-update", "a..b", "Patient-opened", "Foo-open"] {
            #expect(EventCatalog.problem(withName: bad) != nil, "\(bad)")
        }
    }

    func form(_ pairs: [(String, String)]) -> FormFields { FormFields(pairs.map { (name: $0.0, value: $0.1) }) }

    @Test("C9: a websocket subscribe, with the aliases seen in the wild")
    func subscribeRequest() throws {
        let r = try SubscriptionRequest.parse(
            form([("hub_mode", "subscribe"), ("hub.channel.type", "WebSocket"), ("hub.topic", "t"), ("hub.events", "Patient-open"), ("hub.lease", "60"), ("subscriber.name", "OHIF"), ("hub.callback", "ignored")]),
            flavor: .stu3)
        #expect(r.mode == .subscribe && r.channelType == .websocket && r.leaseSeconds == 60 && r.subscriberName == "OHIF")
    }

    @Test("STU2: a subscribe with a callback and no channel type is a webhook; STU3 refuses webhooks")
    func webhookRequests() throws {
        let fields = [("hub.mode", "subscribe"), ("hub.topic", "t"), ("hub.events", "patient-open"), ("hub.callback", "https://app/cb?x=1"), ("hub.secret", "k")]
        #expect(try SubscriptionRequest.parse(form(fields), flavor: .stu2).channelType == .webhook)
        #expect(throws: HubError.self) { try SubscriptionRequest.parse(form(fields + [("hub.channel.type", "webhook")]), flavor: .stu3) }
        #expect(throws: HubError.self) { try SubscriptionRequest.parse(form(fields), flavor: .stu3) }
    }

    @Test("C22: unsubscribe needs no events but an endpoint")
    func unsubscribeRequest() throws {
        let base = [("hub.mode", "unsubscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "t")]
        #expect(throws: HubError.self) { try SubscriptionRequest.parse(form(base), flavor: .stu3) }
        let r = try SubscriptionRequest.parse(form(base + [("hub.channel.endpoint", "ws://h/fhircast/ws/abc")]), flavor: .stu3)
        #expect(r.endpoint == "ws://h/fhircast/ws/abc")
        #expect(HubState.endpointID(r.endpoint!) == "abc")
        #expect(HubState.endpointID("abc/?q=1") == "abc")
    }

    @Test("C36: notifications; versionId accepted with or without the context. prefix; updates require it")
    func notifications() throws {
        var body: JSONValue = [
            "timestamp": "2026-01-01T00:00:00Z", "id": "1",
            "event": ["hub.topic": "t", "hub.event": "diagnosticreport-update", "versionId": "v1",
                      "context": [["key": "report", "reference": ["reference": "DiagnosticReport/1"]], ["key": "updates", "resource": ["resourceType": "Bundle"]]]],
        ]
        let n = try NotificationParser.parse(body)
        #expect(n.event.name == "DiagnosticReport-update")
        #expect(n.event.versionId == "v1")
        if case .object(var root) = body, case .object(var ev)? = root["event"] {
            ev.removeValue(forKey: "versionId")
            root["event"] = .object(ev)
            body = .object(root)
        }
        #expect(throws: HubError.badRequest("DiagnosticReport-update requires 'context.versionId' (the version the update applies to)")) {
            try NotificationParser.parse(body)
        }
        #expect(throws: HubError.self) { try NotificationParser.parse(body, pathTopic: "other") }
    }

    @Test("C30: ACK frames with numeric or string status; anything else is not an ACK")
    func ackFrames() {
        #expect(AckFrame.parse(["id": "e", "status": 200]) == AckFrame(id: "e", status: 200))
        #expect(AckFrame.parse(["id": "e", "status": "409"]) == AckFrame(id: "e", status: 409))
        #expect(AckFrame.parse(["id": "e", "status": "ok"]) == nil)
        #expect(AckFrame.parse(["id": "e"]) == nil)
        #expect(AckFrame.parse(["hub.channel.endpoint": "x"]) == nil)
        #expect(AckFrame.parse(["id": "e", "status": 200, "event": [:]]) == nil)
    }

    @Test("C5: heartbeat (removed from STU3) is left out of the granted events; alone it is a 400")
    func heartbeatDropped() throws {
        let base = [("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "t")]
        let r = try SubscriptionRequest.parse(form(base + [("hub.events", "Patient-open,heartbeat")]), flavor: .stu3)
        #expect(r.events == ["Patient-open"])
        #expect(throws: HubError.self) { try SubscriptionRequest.parse(form(base + [("hub.events", "Heartbeat")]), flavor: .stu3) }
    }
}

@Suite("ACK frames")
struct AckFrameDecodingTests {
    @Test("C30: decoding an ACK from bytes follows the same rules as AckFrame.parse")
    func decodableMatchesParse() throws {
        let frames = [
            #"{"id":"e1","status":200}"#, #"{"id":"e1","status":"202"}"#, #"{"id":"e1","status":200.0}"#, #"{"id":"e1","status":99}"#,
            #"{"id":"e1","status":"ok"}"#, #"{"id":1,"status":200}"#, #"{"status":200}"#, #"{"id":"e1"}"#,
            #"{"id":"e1","status":200,"event":{}}"#, #"[1]"#, #"{"id":"e1","status":200.5}"#, #"{"id":"e1","status":null}"#,
        ]
        for frame in frames {
            let viaValue = (try? JSONDecoder().decode(JSONValue.self, from: Data(frame.utf8))).flatMap(AckFrame.parse)
            let direct = try? JSONDecoder().decode(AckFrame.self, from: Data(frame.utf8))
            #expect(viaValue == direct, "\(frame)")
        }
        #expect(try JSONDecoder().decode(AckFrame.self, from: Data(#"{"id":"e1","status":"202"}"#.utf8)) == AckFrame(id: "e1", status: 202))
    }

    /// Frames the fast path reads, frames it must hand to the full decoder, and frames that are no ACK at all.
    static let tricky = [
        #"{"id":"e1","status":200}"#, #" { "status" : 409 , "id" : "e1" } "#, "{\n\t\"id\":\"e1\",\r\n\"status\":\"202\"}",
        #"{"id":"é-☃-😀","status":200}"#, #"{"id":"","status":200}"#, #"{"id":"e\"1","status":200}"#, #"{"id":"e\u0031","status":200}"#,
        #"{"id":"e1","status":200.0}"#, #"{"id":"e1","status":2e2}"#, #"{"id":"e1","status":0200}"#, #"{"id":"e1","status":"0200"}"#,
        #"{"id":"e1","status":" 200 "}"#, #"{"id":"e1","status":99}"#, #"{"id":"e1","status":600}"#, #"{"id":"e1","status":1000}"#,
        #"{"id":"e1","status":-200}"#, #"{"id":"e1","status":200,}"#, #"{"id":"e1","id":"e2","status":200}"#,
        #"{"id":"e1","status":200,"status":201}"#, #"{"id":"e1","status":200}x"#, #"{"id":"e1","status":200"#, #"{"id":"e1" "status":200}"#,
        #"{"id":"e1","status":200,"event":{}}"#, #"{"id":"e1","status":200,"x":1}"#, #"{"ID":"e1","status":200}"#, #"{"id":null,"status":200}"#,
        #"{"id":"e1","status":true}"#, #"["id","status"]"#, "", "{", #"{"id":"e1\u0000","status":200}"#,
    ]

    @Test("C30: the fast ACK reader gives the full decoder's answer for every frame, odd ones included")
    func fastMatchesFull() {
        var frames = Self.tricky.map { Array($0.utf8) }
        frames.append(Array(#"{"id":"e1","status":200}"#.utf8) + [0xFF])  // not UTF-8 after the object
        frames.append([0x7B, 0x22, 0x69, 0x64, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0x22, 0x2C] + Array(#""status":200}"#.utf8))  // bad UTF-8 in the id
        // Every prefix of a valid frame, and every one-byte change to it.
        let base = Array(#"{"id":"abc","status":"204"}"#.utf8)
        for n in 0..<base.count { frames.append(Array(base.prefix(n))) }
        for k in base.indices {
            for b: UInt8 in [0x20, 0x22, 0x2C, 0x30, 0x31, 0x5C, 0x7D, 0x00] {
                var f = base
                f[k] = b
                frames.append(f)
            }
        }
        for frame in frames {
            let full = try? JSONDecoder().decode(AckFrame.self, from: Data(frame))
            let decoded = frame.withUnsafeBytes(AckFrame.decode)
            #expect(decoded == full, "\(String(decoding: frame, as: UTF8.self))")
        }
        #expect(Array(#"{"status":"204","id":"abc"}"#.utf8).withUnsafeBytes(AckFrame.decode) == AckFrame(id: "abc", status: 204))
        // The shapes clients send are read by the fast path itself, not by the fallback.
        for frame in [#"{"id":"e1","status":200}"#, #" { "status" : "409" , "id" : "é" } "#] {
            let fast = Array(frame.utf8).withUnsafeBytes { bytes in
                var reader = FastAck(bytes)
                return reader.parse()
            }
            #expect(fast != nil, "\(frame)")
        }
    }
}

@Suite("Text search")
struct TextSearchTests {
    @Test("containsBytes finds a part anywhere, after false starts, in substrings and non-ASCII text; exact case")
    func containsBytes() {
        #expect("application/fhir+json; charset=utf-8".containsBytes("json"))
        #expect("json".containsBytes("json") && "xjson".containsBytes("json") && "jsonx".containsBytes("json"))
        #expect("aaab".containsBytes("aab") && "abcabd".containsBytes("abd"))
        #expect(!"jso".containsBytes("json") && !"js on".containsBytes("json") && !"JSON".containsBytes("json"))
        #expect("anything".containsBytes("") && "".containsBytes("") && !"".containsBytes("a"))
        #expect("patient-close".dropFirst(8).containsBytes("close") && !"patient-close".prefix(9).containsBytes("close"))
        #expect("Ünïcode-close".containsBytes("ï") && "日本語".containsBytes("本") && !"日本語".containsBytes("中"))
    }
}

@Suite("JSON text")
struct JSONParsingTests {
    @Test(
        "C28: JSONValue.parse reads the same tree as the Decodable path: booleans apart from 0 and 1, integers kept exact, the rest as given",
        arguments: [
            #"{"a":true,"b":false,"c":1,"d":0,"e":null,"f":"x"}"#,
            #"[1,-5,9223372036854775807,-9223372036854775808,70.5,0.1,1e3,1.5e-7,1e300]"#,
            #"{"s":"é \u00e9 \ud83d\ude00 \"q\" \\ \/ \n","nested":{"k":[{"z":[]},{}]}}"#,
            #""top-level string""#, "42", "true", "null",
        ])
    func parseMatchesDecodable(text: String) throws {
        let fast = try JSONValue.parse(Data(text.utf8))
        let slow = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(fast == slow)
    }

    @Test("JSONValue.parse types every value: a boolean is never a number and a number never a boolean")
    func types() throws {
        let v = try JSONValue.parse(Data(#"{"t":true,"one":1,"f":false,"zero":0,"d":2.5,"big":18446744073709551615}"#.utf8))
        #expect(v["t"] == .bool(true) && v["f"] == .bool(false))
        #expect(v["one"] == .int(1) && v["zero"] == .int(0))
        #expect(v["d"] == .double(2.5))
        #expect(v["big"]?.typeName == "a number")
    }

    /// Values whose text has one possible order (objects of one member), so `JSONEncoder`'s bytes can be compared.
    static let writable: [JSONValue] = [
        .null, true, false, 0, -1, .int(.max), .int(.min), .double(0.1), .double(1.5e-7), .double(1e300), .double(70.5),
        .double(1.0), .double(-0.0), .double(123456789.0), .double(1e16), "", "plain", "a/b", #"q"uote\back"#,
        .string(String((0..<0x20).map { Character(Unicode.Scalar($0)) }) + "\u{7F}"), "é \u{2028} 😀 日本",
        [1, "x", nil, [], [:]], ["k": ["nested": [["deep": .double(2.25)]]]], ["": ""], ["\n\"": "\t"],
    ]

    @Test("C28: JSONValue.jsonBytes writes what JSONEncoder writes, byte for byte", arguments: writable)
    func writerMatchesEncoder(value: JSONValue) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let expected = try encoder.encode(value)
        #expect(String(decoding: value.jsonBytes, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
    }

    @Test("C28: JSONValue.jsonBytes reads back as the same tree, objects of many members included")
    func writerRoundTrips() throws {
        let texts = [
            #"{"timestamp":"2026-11-22T10:00:00Z","id":"e1","event":{"hub.topic":"t","hub.event":"Patient-open","context":[{"key":"patient","resource":{"resourceType":"Patient","id":"p1","name":[{"family":"Ünïcode","given":["A","B"]}],"active":true,"multipleBirthInteger":2,"weight":70.5,"note":null}}]}}"#,
            #"{"a":{"b":{"c":[1,2,{"d":"\u0000\u001f\"\\/"}]},"e":[]},"f":{},"g":-0.5,"h":9223372036854775807}"#,
        ]
        for text in texts {
            let value = try JSONValue.parse(Data(text.utf8))
            #expect(try JSONValue.parse(Data(value.jsonBytes)) == value)
        }
    }

    @Test("JSONValue.jsonBytes writes a number JSON cannot carry as null, and the rest of the value as usual")
    func writerNonFinite() {
        let value: JSONValue = ["n": [.double(.nan), .double(.infinity), 1]]
        #expect(String(decoding: value.jsonBytes, as: UTF8.self) == #"{"n":[null,null,1]}"#)
    }

    @Test("JSONValue.parse refuses what is not JSON", arguments: ["", "{", "{\"a\":}", "[1 2]", "nul", "{'a':1}", "01"])
    func refuses(text: String) {
        #expect(throws: (any Error).self) { try JSONValue.parse(Data(text.utf8)) }
    }
}

@Suite("Outbound URLs")
struct OutboundURLTests {
    @Test("Issue 18: a URL the hub will call needs http(s), a host, and a port from 1 to 65535")
    func outboundURLs() {
        for good in ["http://127.0.0.1:8080/cb", "https://ehr.example.org/hook?x=1", "http://[::1]:9/a", "http://h", "http://u:p@h:81/x:y", "http://h/a?b=c:d"] {
            #expect(OutboundURL.problem(good) == nil, "\(good)")
        }
        let bad: [(String, String)] = [
            ("http://127.0.0.1:99999/cb", "outside 1–65535"), ("http://h:65536", "outside 1–65535"), ("http://h:0/", "outside 1–65535"),
            ("ftp://h/x", "http or https"), ("/relative", "http or https"), ("http:///path", "no host"), ("not a url", "http or https"),
            ("http://h:99999999999999999999999/", "outside 1–65535"), ("http://u:p@h:70000", "outside 1–65535"), ("http://[::1]:70000/", "outside 1–65535"),
        ]
        for (url, reason) in bad {
            let problem = OutboundURL.problem(url)
            #expect(problem != nil, "\(url)")
            #expect(problem?.contains(reason) == true, "\(url): \(problem ?? "accepted")")
        }
    }
}
