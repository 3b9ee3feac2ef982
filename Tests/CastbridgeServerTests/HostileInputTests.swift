import AsyncHTTPClient
import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// Requests that used to stop the process (issue #18, Docs/reliability.md): each now gets a 4xx with a reason,
/// nothing is published, and the server goes on serving.
@Suite("Hostile input (live)")
struct HostileInputTests {
    static let type = "multipart/related; boundary=b1"

    /// Sends `pieces` as one chunked request body, pausing between pieces so that the server reads them apart.
    static func upload(_ server: TestServer, pieces: [[UInt8]], type: String = type) async throws -> TestServer.HTTPResult {
        let (stream, sink) = AsyncStream<ByteBuffer>.makeStream()
        let writer = Task {
            for (i, piece) in pieces.enumerated() {
                if i > 0 { try? await Task.sleep(for: .milliseconds(15)) }
                sink.yield(ByteBuffer(bytes: piece))
            }
            sink.finish()
        }
        defer { writer.cancel() }
        var request = HTTPClientRequest(url: "\(server.base)/api/hub")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: type)
        request.body = pieces.count == 1 ? .bytes(ByteBuffer(bytes: pieces[0])) : .stream(stream, length: .unknown)
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return TestServer.HTTPResult(status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type") ?? "", body: String(buffer: bytes))
    }

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// A valid one-file batch on topic T, to show the server still serves after each hostile one.
    static func goodBatch() -> [UInt8] {
        let envelope = #"{"subscriber.name":"Slicer","event":{"hub.topic":"T","hub.event":"dicom-send","context":{"files":[{"fileName":"a.dcm","byteLength":3}]}}}"#
        return bytes("--b1\r\nContent-Type: application/dicom+json\r\n\r\n\(envelope)\r\n--b1\r\nContent-Type: application/dicom\r\n\r\nabc\r\n--b1--\r\n")
    }

    @Test("Issue 18: the request that killed the process gets a 400 with its reason, and the server keeps serving")
    func theCrashRequest() async throws {
        try await TestServer.with { server in
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "dicom-send", name: "Viewer")
            // printf -- '--b1\r\nContent-Typ\xc3: application/dicom+json\r\n\r\n{}\r\n--b1--\r\n'
            let crash = Self.bytes("--b1\r\nContent-Typ") + [0xC3] + Self.bytes(": application/dicom+json\r\n\r\n{}\r\n--b1--\r\n")
            let answer = try await Self.upload(server, pieces: [crash])
            #expect(answer.status == 400)
            #expect(answer.json?["detail"]?.stringValue?.contains(#"header name has a character a header name cannot have: 'Content-Typ\xC3'"#) == true, "\(answer.body)")
            #expect(await viewer.expectSilence(.milliseconds(200)) == nil)
            let good = try await Self.upload(server, pieces: [Self.goodBatch()])
            #expect(good.status == 200)
            #expect(try await viewer.nextJSON()?["event"]?["hub.event"] == "dicom-send")
        }
    }

    @Test("Issue 18: bytes ≥ 0x80 in header names and values, in the first and the second part, whole and split across chunks")
    func highBytesEverywhere() async throws {
        try await TestServer.with { server in
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "dicom-send", name: "Viewer")
            let good = Self.goodBatch()
            let secondPart = try #require(good.indices.first { good[$0...].starts(with: Self.bytes("\r\n--b1\r\nContent-Type: application/dicom")) })
            let secondHeader = secondPart + 8  // the C of the second part's Content-Type
            let firstHeader = 6
            var cases: [(name: String, body: [UInt8], reason: String)] = []
            for byte: UInt8 in [0x80, 0xC3, 0xFE, 0xFF] {
                for (part, at) in [("first", firstHeader), ("second", secondHeader)] {
                    var name = good
                    name.insert(byte, at: at + 3)  // inside "Content-Type"
                    cases.append(("\(part) part, name byte \(byte)", name, "header name"))
                    var value = good
                    let colon = try #require(value[at...].firstIndex(of: UInt8(ascii: ":")))
                    value.insert(byte, at: colon + 5)  // inside the value
                    cases.append(("\(part) part, value byte \(byte)", value, "not valid UTF-8"))
                }
            }
            for c in cases {
                let bad = try #require(c.body.firstIndex { $0 >= 0x80 })
                // Whole; cut just before, at, and just after the bad byte; cut into ten-byte pieces.
                let splits: [[Int]] = [[], [bad], [bad + 1], [bad - 1, bad + 1], Array(stride(from: 25, to: c.body.count, by: 25))]
                for cuts in splits {
                    var pieces: [[UInt8]] = []
                    var start = 0
                    for end in cuts + [c.body.count] where end > start {
                        pieces.append(Array(c.body[start..<end]))
                        start = end
                    }
                    let answer = try await Self.upload(server, pieces: pieces)
                    #expect(answer.status == 400, "\(c.name), cuts \(cuts)")
                    #expect(answer.body.contains(c.reason), "\(c.name), cuts \(cuts): \(answer.body)")
                }
            }
            #expect(await viewer.expectSilence(.milliseconds(200)) == nil)
            #expect(try await Self.upload(server, pieces: [good]).status == 200)
            #expect(try await viewer.nextJSON()?["event"]?["hub.event"] == "dicom-send")
        }
    }

    @Test("Issue 18: byteLengths whose sum overflows are refused with a reason, and the server keeps serving")
    func byteLengthOverflow() async throws {
        try await TestServer.with { server in
            let envelope = #"{"subscriber.name":"S","event":{"hub.topic":"T","hub.event":"dicom-send","context":{"files":[{"fileName":"a.dcm","byteLength":9223372036854775807},{"fileName":"b.dcm","byteLength":9223372036854775807}]}}}"#
            let body = Self.bytes("--b1\r\nContent-Type: application/json\r\n\r\n\(envelope)\r\n--b1\r\nContent-Type: application/dicom\r\n\r\nx\r\n--b1\r\nContent-Type: application/dicom\r\n\r\ny\r\n--b1--")
            let answer = try await Self.upload(server, pieces: [body])
            #expect(answer.status == 400)
            #expect(answer.body.contains("byteLength"), "\(answer.body)")
            #expect(try await server.get("/health").status == 200)
        }
    }

    @Test("Issue 18: a Cast request whose timeoutSeconds is \"nan\" waits the default timeout instead of stopping the process")
    func nanTimeout() async throws {
        try await TestServer.with { server in
            let (viewer, _) = try await server.castSubscriber(topic: "T", events: "*", name: "Viewer")
            let body = #"{"id":"r1","subscriber.name":"Asker","event":{"hub.topic":"T","hub.event":"status-request","context":{"timeoutSeconds":"nan"}}}"#
            let answer = try await TestServer.request(.POST, "\(server.base)/api/hub/request", body: body, contentType: "application/json")
            #expect(answer.status == 200)
            #expect(answer.json?["timedOut"] == true)
            #expect(answer.json?["missing"] == ["Viewer"])
            #expect(try await viewer.nextJSON()?["event"]?["hub.event"] == "status-request")
        }
    }

    @Test("Issue 18: JSON nested 100,000 deep is refused with 400 on both hubs (the parser's depth limit), and the server keeps serving")
    func deepNesting() async throws {
        try await TestServer.with { server in
            let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
            let fhircast = try await TestServer.request(.POST, server.stu3, body: deep, contentType: "application/json")
            #expect(fhircast.status == 400)
            #expect(fhircast.body.contains("not valid JSON"))
            let cast = try await TestServer.request(.POST, "\(server.base)/api/hub", body: deep, contentType: "application/json")
            #expect(cast.status == 400)
            let actors = "hub.mode=subscribe&hub.channel.type=websocket&hub.topic=T&hub.events=*&subscriber.actors=" + TestServer.formEncode(deep)
            #expect(try await TestServer.request(.POST, "\(server.base)/api/hub", body: actors, contentType: "application/x-www-form-urlencoded").status < 500)
            #expect(try await server.get("/health").status == 200)
        }
    }

    @Test("Issue 18: bearer tokens that are not tokens get 401 invalid_token, on publish and on /oauth/authorize")
    func hostileBearers() async throws {
        try await TestServer.with({ $0.castRequireAuth = true }) { server in
            let publish = #"{"id":"x","event":{"hub.topic":"T","hub.event":"patient-open","context":[]}}"#
            for bearer in Corpus.hostileBearers where !bearer.isEmpty {
                let answer = try await TestServer.request(.POST, "\(server.base)/api/hub", body: publish, contentType: "application/json", bearer: bearer)
                #expect(answer.status == 401, "\(bearer.prefix(60))")
                #expect(answer.body.contains("invalid_token"), "\(bearer.prefix(60)): \(answer.body)")
                let authorize = try await TestServer.request(
                    .POST, "\(server.base)/oauth/authorize", body: String(decoding: JSONValue.object(["id_token": .string(bearer)]).jsonBytes, as: UTF8.self), contentType: "application/json")
                #expect(authorize.status == 401, "\(bearer.prefix(60))")
            }
        }
    }

    @Test("Issue 18: callbacks on a port no socket can have (STU2 webhook, Cast WebSub) are refused with a reason before any connection")
    func callbackPorts() async throws {
        try await TestServer.with { server in
            for port in ["99999", "65536", "0"] {
                let form = [
                    ("hub.mode", "subscribe"), ("hub.channel.type", "webhook"), ("hub.callback", "http://127.0.0.1:\(port)/cb"),
                    ("hub.topic", "T"), ("hub.events", "Patient-open"), ("hub.secret", "s"),
                ]
                let webhook = try await server.post("", form: form, flavor: .stu2)
                #expect(webhook.status == 400, "\(port)")
                #expect(webhook.body.contains("outside 1–65535"), "\(port): \(webhook.body)")
                let websub = "hub.mode=subscribe&hub.channel.type=websub&hub.topic=T&hub.events=*&hub.secret=s&hub.callback="
                    + TestServer.formEncode("http://127.0.0.1:\(port)/cb")
                let cast = try await TestServer.request(.POST, "\(server.base)/api/hub", body: websub, contentType: "application/x-www-form-urlencoded")
                #expect(cast.status == 400, "\(port)")
                #expect(cast.body.contains("outside 1–65535"), "\(port): \(cast.body)")
            }
            #expect(try await server.get("/health").status == 200)
        }
    }
}
