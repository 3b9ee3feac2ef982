@testable import WebSocketTransport
import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOWebSocket
import Testing

/// The WebSocket upgrade as castbridge answers it (`UpgradeChannel`), over raw TCP.
@Suite("WebSocket upgrades (live)")
struct UpgradeTests {
    @Test("C15: an upgrade to an unknown or expired endpoint is answered 404 with the reason, and the connection closed")
    func unknownEndpointAnswer() async throws {
        try await TestServer.with { server in
            let answer = try await RawSocket.exchange(
                port: server.port, RawSocket.upgradeRequest("/fhircast/ws/0123456789abcdef0123456789abcdef", port: server.port))
            #expect(answer.hasPrefix("HTTP/1.1 404"))
            #expect(answer.lowercased().contains("connection: close"))
            #expect(answer.hasSuffix("unknown or expired websocket endpoint\n"))
        }
    }

    @Test("An upgrade to a path with no websocket endpoint is 404; so is /bind when Cast apps belong to an external hub")
    func noEndpointAtPath() async throws {
        try await TestServer.with { server in
            for path in ["/nowhere", "/fhircast/ws/", "/fhircast/ws/a/b", "/bindx/a"] {
                let answer = try await RawSocket.exchange(port: server.port, RawSocket.upgradeRequest(path, port: server.port))
                #expect(answer.hasPrefix("HTTP/1.1 404"), "\(path)")
                #expect(answer.contains("no websocket endpoint at"), "\(path)")
            }
            // The embedded Cast hub accepts any endpoint name, as the reference hub does.
            let bound = try await RawSocket.connect("ws://127.0.0.1:\(server.port)/bind/any-name")
            await bound.drop()
        }
        try await TestServer.with({ $0.castHubURL = "http://127.0.0.1:9" }) { server in
            let answer = try await RawSocket.exchange(port: server.port, RawSocket.upgradeRequest("/bind/x", port: server.port))
            #expect(answer.hasPrefix("HTTP/1.1 404"))
        }
    }

    @Test("An upgrade without one Sec-WebSocket-Key and Sec-WebSocket-Version: 13 is answered 400 with the reason")
    func invalidUpgradeHeaders() async throws {
        try await TestServer.with { server in
            let head = "GET /bind/x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            for headers in [
                "Sec-WebSocket-Version: 13\r\n",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n",
                "Sec-WebSocket-Key: a\r\nSec-WebSocket-Key: b\r\nSec-WebSocket-Version: 13\r\n",
            ] {
                let answer = try await RawSocket.exchange(port: server.port, head + headers + "\r\n")
                #expect(answer.hasPrefix("HTTP/1.1 400"), "\(headers)")
                #expect(answer.hasSuffix("it needs one Sec-WebSocket-Key and Sec-WebSocket-Version: 13\n"), "\(headers)")
            }
        }
    }

    @Test("An upgrade after a first request on the same connection is sent to a new connection (307 to the same URI)")
    func upgradeAfterFirstRequest() async throws {
        try await TestServer.with { server in
            let endpoint = try await server.subscribe(topic: "late", events: "Patient-open")
            let path = try #require(URL(string: endpoint)).path
            let health = "GET /health HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n\r\n"
            let answer = try await RawSocket.exchange(port: server.port, health + RawSocket.upgradeRequest(path, port: server.port))
            #expect(answer.hasPrefix("HTTP/1.1 200"))
            let second = try #require(answer.range(of: "HTTP/1.1 307"))
            #expect(answer[second.lowerBound...].lowercased().contains("location: \(path)"))
            // Without Connection: Upgrade it is no upgrade at all: a 400, not a redirect.
            let bare = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\r\n"
            let refused = try await RawSocket.exchange(port: server.port, health + bare)
            #expect(refused.contains("HTTP/1.1 400"))
            #expect(refused.hasSuffix("a websocket upgrade needs Connection: Upgrade\n"))
            // The endpoint was not used up: a new connection upgrades.
            let socket = try await TestSocket.connect(endpoint)
            #expect(try await socket.nextJSON()?["hub.mode"] == "subscribe")
        }
    }

    @Test("A message sent in fragments is read whole: a Cast JSON ping in three frames gets its pong")
    func fragmentedMessage() async throws {
        try await TestServer.with { server in
            let raw = try await RawSocket.connect("ws://127.0.0.1:\(server.port)/bind/fragments")
            try await raw.send(.text, #"{"ty"#, fin: false)
            try await raw.send(.continuation, #"pe":"pi"#, fin: false)
            try await raw.send(.ping, "control frames may come between fragments")
            try await raw.send(.continuation, #"ng"}"#)
            for _ in 0..<150 where !raw.receivedText.contains(#""type":"pong""#) {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(raw.receivedText.contains(#""type":"pong""#))
            #expect(raw.receivedText.contains("control frames may come between fragments"))
            #expect(raw.isActive)
        }
    }
}
