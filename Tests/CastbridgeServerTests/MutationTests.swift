import AsyncHTTPClient
import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import TestSupport

/// Thousands of mutated requests of every kind against a running castbridge process, from a fixed seed (issue #18,
/// Docs/reliability.md). The server must answer each with something other than a 5xx, and must still be serving at
/// the end. It runs as a child process, so that a trap shows as a failed test with the process's exit status.
@Suite("Mutated requests (live)")
struct MutationTests {
    static let seed: UInt64 = 0xCA57_B41D
    static let httpRounds = 2_400
    static let rawHTTPRounds = 240
    static let frameRounds = 360

    @Test("Issue 18: seeded mutations of FHIRcast and Cast bodies, forms, batches, raw HTTP and WebSocket frames: no 5xx, no crash")
    func mutatedRequests() async throws {
        let server = try await CastbridgeProcess.start(arguments: ["--ack-timeout", "1", "--max-body", "262144", "--bridge-queue-max-wait", "2"])
        let port = server.port
        var random = SplitMix64(seed: Self.seed)
        let corpus = Corpus(base: server.base)
        var failures: [String] = []
        var sent = 0

        // 1. HTTP requests through a real client: mutated bodies, content types, paths and methods.
        var recent: [String] = []  // a dying process still accepts connections while it prints its backtrace
        for round in 0..<Self.httpRounds {
            let request = corpus.mutated(&random)
            recent = recent.suffix(4) + ["round \(round): \(request)"]
            guard let result = try? await request.send(timeout: .seconds(15)) else {
                // The client refused it, or the server is gone: then the rounds left would each wait out the timeout.
                guard await server.isRunning else {
                    failures.append("castbridge exited (\(await server.exitStatus)); the last requests:\n" + recent.joined(separator: "\n"))
                    break
                }
                continue
            }
            sent += 1
            if result >= 500 { failures.append("round \(round): \(result) for \(request)") }
        }

        // 2. Raw HTTP: request lines and headers no client library would write.
        for batch in stride(from: 0, to: Self.rawHTTPRounds, by: 24) {
            let requests = (batch..<min(batch + 24, Self.rawHTTPRounds)).map { _ in corpus.rawRequest(&random, port: port) }
            let answers = await withTaskGroup(of: (String, String).self) { group in
                for raw in requests {
                    group.addTask { (raw, (try? await RawSocket.exchange(port: port, raw, timeout: .milliseconds(400))) ?? "") }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            for (raw, answer) in answers {
                sent += 1
                if answer.hasPrefix("HTTP/1.1 5") { failures.append("raw \(raw.debugDescription): \(answer.prefix(200))") }
            }
        }

        // 3. WebSocket frames on FHIRcast and Cast sockets: mutated ACKs and Cast frames, invalid UTF-8, bad opcodes,
        // reserved bits, lying lengths, close frames with odd codes. A socket the server closes is opened anew.
        var socket: RawSocket?
        for round in 0..<Self.frameRounds {
            if socket?.isActive != true {
                await socket?.drop()
                socket = try? await corpus.openSocket(fhircast: round % 2 == 0, port: port)
            }
            guard let open = socket else {
                failures.append("frame round \(round): no socket could be opened")
                break
            }
            let (first, payload) = corpus.mutatedFrame(&random, fhircast: round % 2 == 0)
            try? await open.sendFrame(firstByte: first, payload)
            sent += 1
            if random.next(upTo: 16) == 0 { try? await open.sendRaw((0..<random.next(upTo: 40)).map { _ in UInt8(truncatingIfNeeded: random.next()) }) }
        }
        await socket?.drop()

        // The process is alive and still does its work: health, and a publish reaching a subscriber.
        let alive = await server.isRunning
        let exit = await server.exitStatus
        #expect(alive, "castbridge exited with \(exit) after \(sent) mutated requests")
        #expect(failures.isEmpty, "\(failures.count) answers were 5xx:\n\(failures.prefix(20).joined(separator: "\n"))")
        if alive {
            #expect(try await TestServer.request(.GET, "\(server.base)/health").status == 200)
            let subscribe = try await TestServer.request(
                .POST, "\(server.base)/fhircast/STU3", body: "hub.mode=subscribe&hub.channel.type=websocket&hub.topic=after&hub.events=Patient-open",
                contentType: "application/x-www-form-urlencoded")
            let endpoint = try #require(subscribe.json?["hub.channel.endpoint"]?.stringValue)
            let subscriber = try await TestSocket.connect(endpoint)
            #expect(try await subscriber.nextJSON()?["hub.mode"] == "subscribe")
            let event = Events.patientOpen(topic: "after", id: "still-serving")
            let published = try await TestServer.request(
                .POST, "\(server.base)/fhircast/STU3", body: String(decoding: event.jsonBytes, as: UTF8.self), contentType: "application/json")
            #expect(published.status == 200)
            #expect(try await subscriber.nextJSON()?["id"] == "still-serving")
        }
        #expect(sent > (Self.httpRounds + Self.rawHTTPRounds + Self.frameRounds) * 9 / 10, "only \(sent) requests were sent")
        await server.stopAndWait()
    }
}

extension MutationTests {
    /// The bridge's upstream connection: an external Cast hub (a second castbridge process, `--no-bridge`) passes mutated
    /// Cast events and binary batches on as its frames, and castbridge translates them (RemoteCastUpstream).
    @Test("Issue 18: mutated Cast events and batches reaching the bridge from an external Cast hub: no crash, and the bridge still works")
    func mutatedUpstreamFrames() async throws {
        let hub = try await CastbridgeProcess.start(arguments: ["--no-bridge"])
        let bridge = try await CastbridgeProcess.start(arguments: ["--cast-hub", hub.base, "--ack-timeout", "1"])
        var random = SplitMix64(seed: Self.seed ^ 0xB41D)
        let events = [Corpus.castPublish, Corpus.batchEnvelope.replacingTopic("m"), HostileFramesSeeds.binaryFanOut]
        for round in 0..<600 {
            var envelope = events[random.next(upTo: events.count)]
            for _ in 0...random.next(upTo: 3) { envelope = Mutations.replaceRandomValue(in: envelope, &random) }
            let asBatch = round % 5 == 0
            let body = asBatch ? Corpus.batch(envelope: envelope) : envelope.jsonBytes
            let type = asBatch ? "multipart/related; boundary=b1" : "application/json"
            _ = try? await MutatedRequest(method: .POST, url: "\(hub.base)/api/hub", contentType: type, body: body).send(timeout: .seconds(10))
        }
        let alive = (await hub.isRunning, await bridge.isRunning)
        let exits = (await hub.exitStatus, await bridge.exitStatus)
        #expect(alive.0 && alive.1, "hub: \(exits.0), bridge: \(exits.1)")
        if alive.0 && alive.1 {
            // A FHIRcast subscriber on the bridge still gets a Cast app's event from the hub.
            let subscribe = try await TestServer.request(
                .POST, "\(bridge.base)/fhircast/STU3", body: "hub.mode=subscribe&hub.channel.type=websocket&hub.topic=after&hub.events=Patient-open",
                contentType: "application/x-www-form-urlencoded")
            let subscriber = try await TestSocket.connect(try #require(subscribe.json?["hub.channel.endpoint"]?.stringValue))
            #expect(try await subscriber.nextJSON()?["hub.mode"] == "subscribe")
            let publish: JSONValue = ["id": "after-1", "subscriber.name": "viewer", "event": ["hub.topic": "after", "hub.event": "patient-open", "context": [HostileFramesSeeds.patient]]]
            #expect(try await MutatedRequest(method: .POST, url: "\(hub.base)/api/hub", contentType: "application/json", body: publish.jsonBytes).send(timeout: .seconds(10)) == 200)
            let delivered = try await subscriber.nextJSON(timeout: .seconds(10))
            #expect(delivered?["id"] == "after-1")
            let health = try await TestServer.request(.GET, "\(bridge.base)/health").json?["bridge"]
            #expect(health?["connected"] == true)
            // The mutations reached the bridge: many became FHIRcast events, the rest were refused or ignored there.
            if case .int(let passed)? = health?["toFHIRcast"] { #expect(passed > 100, "\(String(describing: health))") } else { Issue.record("no toFHIRcast count") }
        }
        await bridge.stopAndWait()
        await hub.stopAndWait()
    }
}

/// Seeds for the upstream phase.
enum HostileFramesSeeds {
    static let patient: JSONValue = ["key": "patient", "resource": ["resourceType": "Patient", "id": "p1"]]
    /// A binary event as a hub fans it out, with chunk ids the hub does not have.
    static let binaryFanOut: JSONValue = [
        "id": "b1", "subscriber.name": "slicer",
        "event": ["hub.topic": "m", "hub.event": "dicom-send", "context": ["files": [
            ["fileName": "a.dcm", "byteLength": 5, "payloadIds": ["nope", "../../admin/snapshot"], "chunkByteLengths": [3, 2], "expiresAt": "2026-01-08T01:37:05Z"],
        ]]],
    ]
}

extension JSONValue {
    func replacingTopic(_ topic: String) -> JSONValue {
        guard case .object(var root) = self, case .object(var event)? = root["event"] else { return self }
        event["hub.topic"] = .string(topic)
        root["event"] = .object(event)
        return .object(root)
    }
}

/// One HTTP request of the mutation test.
struct MutatedRequest: Sendable, CustomStringConvertible {
    var method: HTTPMethod
    var url: String
    var contentType: String?
    var body: [UInt8]
    var bearer: String?

    func send(timeout: TimeAmount) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        if !body.isEmpty || method == .POST { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        _ = try await response.body.collect(upTo: 16 << 20)
        return Int(response.status.code)
    }

    var description: String {
        let shown = String(decoding: body.prefix(300), as: UTF8.self).debugDescription
        return "\(method) \(url) [\(contentType ?? "no type")] \(body.count) bytes: \(shown)"
    }
}

/// The valid requests the mutations start from, and the mutations.
struct Corpus: Sendable {
    let base: String

    struct Seed: Sendable {
        var method: HTTPMethod
        var path: String
        var contentType: String?
        var body: [UInt8]
        var json: JSONValue?
    }

    static func json(_ value: JSONValue) -> [UInt8] { value.jsonBytes }
    static func form(_ pairs: [(String, String)]) -> [UInt8] {
        Array(pairs.map { "\(TestServer.formEncode($0.0))=\(TestServer.formEncode($0.1))" }.joined(separator: "&").utf8)
    }

    static let boundary = "b1"
    static let batchEnvelope: JSONValue = [
        "subscriber.name": "Slicer",
        "event": ["hub.topic": "m", "hub.event": "dicom-send", "context": ["files": [["fileName": "a.dcm", "byteLength": 3, "mimeType": "application/dicom"], ["fileName": "r.dcm", "url": "https://pacs.example.org/r.dcm"]]]],
    ]
    static var batch: [UInt8] { batch(envelope: batchEnvelope) }

    /// A batch with one 3-byte file part after `envelope`.
    static func batch(envelope: JSONValue) -> [UInt8] {
        Array("--b1\r\nContent-Type: application/dicom+json\r\n\r\n".utf8) + json(envelope)
            + Array("\r\n--b1\r\nContent-Type: application/dicom\r\n\r\nabc\r\n--b1--\r\n".utf8)
    }

    static let notification = Events.reportOpen(topic: "m", id: "evt-1")
    static let update = Events.reportUpdate(topic: "m", version: "v1", entries: [Events.observationPut("o1")])
    static let castPublish: JSONValue = [
        "id": "cast-1", "subscriber.name": "viewer", "timestamp": "2026-01-08T01:37:05Z",
        "event": ["hub.topic": "m", "hub.event": "patient-open", "context": [["key": "patient", "resource": ["resourceType": "Patient", "id": "p1"]]]],
    ]
    static let castRequest: JSONValue = [
        "id": "req-1", "subscriber.name": "asker", "event": ["hub.topic": "m", "hub.event": "status-request", "context": ["timeoutSeconds": .double(0.05)]],
    ]
    static let fhircastRequest: JSONValue = ["dataType": "STATUS", "timeoutSeconds": .double(0.05)]
    static let subscribe = [("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "m"), ("hub.events", "Patient-open,DiagnosticReport-open,SyncError"), ("subscriber.name", "mut"), ("hub.lease_seconds", "60")]
    static let webhook = [("hub.mode", "subscribe"), ("hub.channel.type", "webhook"), ("hub.callback", "http://127.0.0.1:9/cb"), ("hub.topic", "m"), ("hub.events", "Patient-open"), ("hub.secret", "s"), ("hub.lease_seconds", "60")]
    static let castSubscribe = [("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "m"), ("hub.events", "*"), ("subscriber.name", "mut"), ("subscriber.actors", "[\"ID\"]"), ("subscriber.client_info", "{\"productName\":\"x\"}")]

    static let seeds: [Seed] = [
        Seed(method: .POST, path: "/fhircast/STU3", contentType: "application/json", body: json(notification), json: notification),
        Seed(method: .POST, path: "/fhircast/STU3", contentType: "application/json", body: json(update), json: update),
        Seed(method: .POST, path: "/fhircast/STU2", contentType: "application/json", body: json(notification), json: notification),
        Seed(method: .POST, path: "/fhircast/STU3/m", contentType: "application/json", body: json(notification), json: notification),
        Seed(method: .POST, path: "/fhircast/STU3", contentType: "application/x-www-form-urlencoded", body: form(subscribe)),
        Seed(method: .POST, path: "/fhircast/STU2", contentType: "application/x-www-form-urlencoded", body: form(webhook)),
        Seed(method: .GET, path: "/fhircast/STU3/m", body: []),
        Seed(method: .GET, path: "/fhircast/STU3/.well-known/fhircast-configuration", body: []),
        Seed(method: .POST, path: "/fhircast/STU3/m/request", contentType: "application/json", body: json(fhircastRequest), json: fhircastRequest),
        Seed(method: .POST, path: "/fhircast/STU3/m/response", contentType: "application/json", body: json(castPublish), json: castPublish),
        Seed(method: .GET, path: "/fhircast/payloads/abc", body: []),
        Seed(method: .POST, path: "/api/hub", contentType: "application/json", body: json(castPublish), json: castPublish),
        Seed(method: .POST, path: "/api/hub", contentType: "application/x-www-form-urlencoded", body: form(castSubscribe)),
        Seed(method: .POST, path: "/api/hub", contentType: "multipart/related; boundary=b1; type=\"application/dicom\"", body: batch),
        Seed(method: .POST, path: "/api/hub/request", contentType: "application/json", body: json(castRequest), json: castRequest),
        Seed(method: .POST, path: "/api/hub/m", contentType: "application/json", body: json(castPublish), json: castPublish),
        Seed(method: .GET, path: "/api/hub/m", body: []),
        Seed(method: .DELETE, path: "/api/hub", contentType: "application/x-www-form-urlencoded", body: form([("hub.channel.endpoint", "x")])),
        Seed(method: .GET, path: "/api/hub/cast-get?subscriber=nobody&dataType=STATUS&topic=m", body: []),
        Seed(method: .POST, path: "/api/hub/conference", contentType: "application/json", body: json(["topic": "m", "name": "c"]), json: ["topic": "m", "name": "c"]),
        Seed(method: .GET, path: "/api/hub/payloads/abc", body: []),
        Seed(method: .POST, path: "/oauth/authorize", contentType: "application/x-www-form-urlencoded", body: form([("user_name", "alice")])),
        Seed(method: .POST, path: "/oauth/authorize", contentType: "application/json", body: json(["id_token": "a.b.c"]), json: ["id_token": .string(hostileBearers[7])]),
        Seed(method: .POST, path: "/oauth/token", contentType: "application/x-www-form-urlencoded", body: form([("code", "x"), ("grant_type", "authorization_code")])),
    ]

    static let contentTypes: [String?] = [
        nil, "application/json", "application/fhir+json", "application/x-www-form-urlencoded", "text/plain", "application/xml",
        "multipart/related", "multipart/related; boundary=", "multipart/related; boundary=\"\"", "multipart/related; boundary=b1",
        "multipart/related; boundary=\(String(repeating: "x", count: 300))", "multipart/form-data; boundary=b1", "multipart/mixed; boundary=b1",
        "application/json; charset=latin1", "*/*", ";;;", "multipart/related; boundary=b1; boundary=b2",
    ]

    func mutated(_ random: inout SplitMix64) -> MutatedRequest {
        let seed = Self.seeds[random.next(upTo: Self.seeds.count)]
        var request = MutatedRequest(method: seed.method, url: base + seed.path, contentType: seed.contentType, body: seed.body)
        let mutations = 1 + random.next(upTo: 3)
        for _ in 0..<mutations {
            switch random.next(upTo: 10) {
            case 0...3:
                // A hostile value somewhere in the JSON tree, or a byte-level change elsewhere.
                if let json = seed.json {
                    request.body = Mutations.replaceRandomValue(in: json, &random).jsonBytes
                } else {
                    Mutations.mutateBytes(&request.body, &random)
                }
            case 4...6:
                Mutations.mutateBytes(&request.body, &random)
            case 7:
                request.contentType = Self.contentTypes[random.next(upTo: Self.contentTypes.count)]
            case 8:
                let tails = ["%C3", "%00", "%ZZ", "..%2F..", String(repeating: "t", count: 2000), "%E2%80%AE", "a%2Fb", "%20", "~!$'()*+,;=:@"]
                let tail = tails[random.next(upTo: tails.count)]
                let paths = ["/fhircast/STU3/", "/fhircast/STU2/", "/api/hub/", "/fhircast/payloads/", "/api/hub/payloads/", "/fhircast/STU3/x/"]
                request.url = base + paths[random.next(upTo: paths.count)] + tail
            default:
                let methods: [HTTPMethod] = [.GET, .POST, .PUT, .DELETE, .PATCH, .OPTIONS, .HEAD]
                request.method = methods[random.next(upTo: methods.count)]
                if random.next(upTo: 2) == 0 { request.bearer = Self.hostileBearer(&random) }
            }
        }
        return request
    }

    /// Bearer tokens that are not tokens: empty, too few parts, bad base64, alg none, lying lengths, odd kids.
    static let hostileBearers = [
        "", "a", "a.b", "a.b.c", "...", "eyJhbGciOiJIUzI1NiJ9.e30.", "eyJhbGciOiJub25lIn0.eyJ0b3BpYyI6Im0ifQ.",
        "eyJhbGciOiJIUzI1NiIsImtpZCI6IvCfkqkifQ.eyJleHAiOjFlNDAwfQ.c2ln", String(repeating: "A", count: 5000) + ".B.C",
        "eyJ" + String(repeating: "=", count: 40) + ".x.y", "eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl9jb3VudGVyIjoxZTQwMH0.AAAA",
        "\u{00C3}.\u{00FF}.x",
    ]

    static func hostileBearer(_ random: inout SplitMix64) -> String { hostileBearers[random.next(upTo: hostileBearers.count)] }

    func rawRequest(_ random: inout SplitMix64, port: Int) -> String {
        let lines = [
            "GET /health HTTP/1.1", "POST /api/hub HTTP/1.1", "GET /fhircast/STU3/%C3 HTTP/1.1", "GET /\u{00C3} HTTP/1.1",
            "GET /health HTTP/9.9", "GARBAGE", "GET  /health  HTTP/1.1", "POST /fhircast/STU3 HTTP/1.0", "GET http://x/health HTTP/1.1",
            "GET /bind/x HTTP/1.1", "GET /fhircast/ws/0123456789abcdef0123456789abcdef HTTP/1.1",
        ]
        let headers = [
            "Host: 127.0.0.1:\(port)", "Content-Length: 5", "Content-Length: -1", "Content-Length: 99999999999999999999",
            "Transfer-Encoding: chunked", "Transfer-Encoding: gzip, chunked", "Content-Type: multipart/related; boundary=b1",
            "Content-Typ\u{00C3}: x", "X: \u{00FF}\u{0000}", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Key: !!", "Expect: 100-continue", "Authorization: Bearer a.b.c",
            String(repeating: "X-Long: y\r\n", count: 200) + "Z: z",
        ]
        var text = lines[random.next(upTo: lines.count)] + "\r\n"
        for _ in 0..<random.next(upTo: 6) { text += headers[random.next(upTo: headers.count)] + "\r\n" }
        text += "Connection: close\r\n\r\n"
        let bodies = ["", "hello", "5\r\nhello\r\n0\r\n\r\n", "zz\r\n", "--b1\r\nContent-Typ\u{00C3}: x\r\n\r\n{}\r\n--b1--\r\n", "{\"id\":"]
        text += bodies[random.next(upTo: bodies.count)]
        return text
    }

    // MARK: WebSocket

    func openSocket(fhircast: Bool, port: Int) async throws -> RawSocket {
        if fhircast {
            let result = try await TestServer.request(
                .POST, "\(base)/fhircast/STU3", body: String(decoding: Self.form(Self.subscribe), as: UTF8.self),
                contentType: "application/x-www-form-urlencoded")
            guard let endpoint = result.json?["hub.channel.endpoint"]?.stringValue else {
                throw TestFailure("subscribe failed: \(result.status) \(result.body)")
            }
            return try await RawSocket.connect(endpoint)
        }
        return try await RawSocket.connect("ws://127.0.0.1:\(port)/bind/mutation-\(UUID().uuidString.prefix(8))")
    }

    func mutatedFrame(_ random: inout SplitMix64, fhircast: Bool) -> (UInt8, [UInt8]) {
        let ack: JSONValue = ["id": "evt-1", "status": 200]
        let castFrames: [JSONValue] = [
            ["type": "ping"], ["hub.channel.endpoint": "x"],
            ["id": "r", "subscriber.name": "mut", "event": ["hub.event": "status-response", "hub.topic": "m", "context": ["requestId": "req-1", "data": [:]]]],
            ["id": "p", "event": ["hub.event": "get-response", "context": [:]]],
        ]
        let seed = fhircast ? ack : castFrames[random.next(upTo: castFrames.count)]
        var payload = random.next(upTo: 2) == 0 ? Mutations.replaceRandomValue(in: seed, &random).jsonBytes : seed.jsonBytes
        if random.next(upTo: 3) == 0 { Mutations.mutateBytes(&payload, &random) }
        var first: UInt8 = 0x81  // FIN, text
        switch random.next(upTo: 12) {
        case 0: first = 0x82  // binary
        case 1: first = 0x01  // a text fragment left open
        case 2: first = 0x80  // continuation with nothing to continue
        case 3: first = 0x80 | UInt8(3 + random.next(upTo: 5))  // reserved data opcodes
        case 4: first = 0x80 | UInt8(0xB + random.next(upTo: 5))  // reserved control opcodes
        case 5: first = 0xC1 | UInt8(random.next(upTo: 4) << 4)  // RSV bits
        case 6:
            first = 0x88  // close with an odd code and reason
            let codes: [UInt16] = [0, 999, 1004, 1005, 1006, 1015, 2999, 4999, 65535]
            let code = codes[random.next(upTo: codes.count)]
            payload = [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(payload.prefix(random.next(upTo: 3) == 0 ? 200 : 20))
        case 7: first = 0x89  // ping, perhaps too long for a control frame
        case 8: first = 0x81; payload += [0xC3]  // invalid UTF-8 at the end of a text frame
        default: break
        }
        return (first, payload)
    }
}
