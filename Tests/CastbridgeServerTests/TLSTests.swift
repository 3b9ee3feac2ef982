import AsyncHTTPClient
import CastbridgeServer
import Crypto
import FHIRcastCore
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import NIOWebSocket
import TestSupport
import Testing
import SwiftASN1
import X509

/// TLS on castbridge's own port (issue #13, C1), with a certificate made here.
@Suite("TLS (live)")
struct TLSTests {
    /// A self-signed certificate for localhost and its key, as PEM files in a new directory.
    static func certificate() throws -> (certificate: String, key: String, pem: String) {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("castbridge test") }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: now - 60, notValidAfter: now + 3600,
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions { SubjectAlternativeNames([.dnsName("localhost")]) }, issuerPrivateKey: .init(key))
        let pem = try certificate.serializeAsPEM().pemString
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("castbridge-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificatePath = directory.appendingPathComponent("cert.pem").path
        let keyPath = directory.appendingPathComponent("key.pem").path
        try pem.write(toFile: certificatePath, atomically: true, encoding: .utf8)
        try key.pemRepresentation.write(toFile: keyPath, atomically: true, encoding: .utf8)
        return (certificatePath, keyPath, pem)
    }

    @Test("C1: HTTPS and WSS on the same port: discovery, a subscription whose endpoint is wss://, and an event over it")
    func httpsAndWSS() async throws {
        let files = try Self.certificate()
        var client = TLSConfiguration.makeClientConfiguration()
        client.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(files.pem.utf8), format: .pem)])
        client.certificateVerification = .noHostnameVerification
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: client))
        let tls: (inout ServerConfiguration) -> Void = {
            $0.tlsCertificatePath = files.certificate
            $0.tlsKeyPath = files.key
        }
        do {
            try await TestServer.with(tls) { server in
                let base = "https://127.0.0.1:\(server.port)/fhircast/STU3"
                @Sendable func post(_ body: String, _ type: String) async throws -> (Int, String) {
                    var request = HTTPClientRequest(url: base)
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: type)
                    request.body = .bytes(ByteBuffer(string: body))
                    let response = try await http.execute(request, timeout: .seconds(10))
                    return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
                }
                let discovery = try await http.execute(HTTPClientRequest(url: base + "/.well-known/fhircast-configuration"), timeout: .seconds(10))
                #expect(discovery.status == .ok)
                let (status, body) = try await post(
                    FormBody.encode([("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", "secure"), ("hub.events", "Patient-open")]),
                    "application/x-www-form-urlencoded")
                #expect(status == 202)
                let endpoint = try #require(try JSONValue.parse(Data(body.utf8))["hub.channel.endpoint"]?.stringValue)
                #expect(endpoint.hasPrefix("wss://127.0.0.1:\(server.port)/"))
                // The certificate names localhost (a WSS client sends the host as SNI, which an IP cannot be).
                let named = endpoint.replacingOccurrences(of: "wss://127.0.0.1:", with: "wss://localhost:")
                let received = try await Self.receive(named, tls: client) {
                    let event = String(decoding: try JSONEncoder().encode(Events.patientOpen(topic: "secure", id: "over-tls")), as: UTF8.self)
                    #expect(try await post(event, "application/json").0 == 200)
                }
                #expect(received.contains("over-tls"))
                // Plain HTTP on the TLS port gets no answer.
                #expect((try? await TestServer.request(.GET, "http://127.0.0.1:\(server.port)/health")) == nil)
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    /// Connects over WSS, reads the confirmation, runs `then`, and returns the next text frame.
    static func receive(_ url: String, tls: TLSConfiguration, then: @escaping @Sendable () async throws -> Void) async throws -> String {
        let (texts, sink) = AsyncStream<String>.makeStream()
        var logger = Logger(label: "wss-test")
        logger.logLevel = .critical
        _ = try await WebSocketClient.connect(url: url, tlsConfiguration: tls, logger: logger) { inbound, outbound, _ in
            var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
            _ = try await messages.next()  // the confirmation
            try await then()
            if case .text(let text)? = try await messages.next() { sink.yield(text) }
            try await outbound.close(.normalClosure, reason: nil)
        }
        sink.finish()
        var iterator = texts.makeAsyncIterator()
        return await iterator.next() ?? ""
    }
}
