import Foundation
import Hummingbird
import JWTKit
import Logging
import NIOCore
import ServiceLifecycle
import _CryptoExtras
import Synchronization
import TestSupport

/// A small OpenID Connect issuer on loopback for the security tests: discovery and JWKS over real HTTP, keys that
/// can be rotated mid-test, and tokens signed with them. Not castbridge's code: what castbridge must trust.
final class TestIssuer: Sendable {
    struct Claims: JWTPayload {
        var iss: String
        var aud: [String]?
        var exp: Double?
        var nbf: Double?
        var sub: String = "dr-test"
        var scope: String?
        var hubTopic: String?
        var topic: String?
        var roles: [String]?

        enum CodingKeys: String, CodingKey {
            case iss, aud, exp, nbf, sub, scope, topic, roles
            case hubTopic = "hub.topic"
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    actor Keys {
        /// The keys that sign, by kid.
        let signing = JWTKeyCollection()
        /// The public keys the JWKS publishes.
        var published: [String: JSONValueLike] = [:]
        var fetches = 0

        func publish(_ kid: String, _ jwk: JSONValueLike) { published[kid] = jwk }
        func withdraw(_ kid: String) { published.removeValue(forKey: kid) }
        func fetched() { fetches += 1 }
        var jwks: String {
            let keys = published.values.map { $0.json }.joined(separator: ",")
            return #"{"keys":[\#(keys)]}"#
        }
    }

    /// A JWK as its JSON text.
    struct JSONValueLike: Sendable { var json: String }

    let keys: Keys
    private let service: LoopbackService
    var port: Int { service.port }
    var issuer: String { "http://127.0.0.1:\(port)/realms/castbridge" }
    /// The issuer's public name, which does not reach it from here (a loopback port nothing listens on), as from inside
    /// a container network; `--oidc-discovery-url` reads `internalDiscovery` instead.
    let publicIssuer: String
    var internalDiscovery: String { "http://127.0.0.1:\(port)/internal/realms/castbridge" }

    private init(keys: Keys, service: LoopbackService, publicIssuer: String) {
        self.keys = keys
        self.service = service
        self.publicIssuer = publicIssuer
    }

    static func start() async throws -> TestIssuer {
        let keys = Keys()
        let publicIssuer = "http://127.0.0.1:\(try await LoopbackPort.free())/realms/castbridge"
        let router = Router()
        let box = PortBox()
        router.get("realms/castbridge/.well-known/openid-configuration") { _, _ in
            let issuer = "http://127.0.0.1:\(box.port)/realms/castbridge"
            return Self.json(#"{"issuer":"\#(issuer)","jwks_uri":"\#(issuer)/protocol/openid-connect/certs","token_endpoint":"\#(issuer)/protocol/openid-connect/token"}"#)
        }
        // The same provider as a container network sees it: discovery read at this address names the public issuer.
        router.get("internal/realms/castbridge/.well-known/openid-configuration") { _, _ in
            let local = "http://127.0.0.1:\(box.port)/realms/castbridge"
            return Self.json(#"{"issuer":"\#(publicIssuer)","jwks_uri":"\#(local)/protocol/openid-connect/certs"}"#)
        }
        router.get("realms/castbridge/protocol/openid-connect/certs") { _, _ in
            await keys.fetched()
            return Self.json(await keys.jwks)
        }
        // Client credentials for a service (the bridge, a service provider): any client, the any-topic role, k1.
        router.post("realms/castbridge/protocol/openid-connect/token") { request, _ in
            let form = String(buffer: try await request.body.collect(upTo: 1 << 16))
            guard form.contains("grant_type=client_credentials") else { return Response(status: .badRequest) }
            let now = Date().timeIntervalSince1970
            let claims = Claims(
                iss: "http://127.0.0.1:\(box.port)/realms/castbridge", aud: ["castbridge"], exp: now + 600, sub: "service-account",
                scope: "openid", roles: ["castbridge-any-topic"])
            let token = try await keys.signing.sign(claims, kid: JWKIdentifier(string: "k1"))
            return Self.json(#"{"access_token":"\#(token)","token_type":"Bearer","expires_in":600}"#)
        }
        var logger = Logger(label: "test-issuer")
        logger.logLevel = .critical
        let service = try await LoopbackService.start(logger: logger) { listening in
            Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: listening, logger: logger)
        }
        box.port = service.port
        let issuer = TestIssuer(keys: keys, service: service, publicIssuer: publicIssuer)
        try await issuer.addES256("k1")
        return issuer
    }

    func stop() async { await service.stop() }

    /// A new ES256 key, published.
    func addES256(_ kid: String, publish: Bool = true) async throws {
        let key = ES256PrivateKey()
        await keys.signing.add(ecdsa: key, kid: JWKIdentifier(string: kid))
        guard publish, let (x, y) = key.publicKey.parameters else { return }
        await keys.publish(kid, JSONValueLike(json: #"{"kty":"EC","crv":"P-256","use":"sig","alg":"ES256","kid":"\#(kid)","x":"\#(x)","y":"\#(y)"}"#))
    }

    /// A new RS256 key (2048 bits), published.
    func addRS256(_ kid: String) async throws {
        let key = try Insecure.RSA.PrivateKey(backing: _RSA.Signing.PrivateKey(keySize: .bits2048))
        await keys.signing.add(rsa: key, digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
        let (n, e) = try key.publicKey.getKeyPrimitives()
        await keys.publish(kid, JSONValueLike(json: #"{"kty":"RSA","use":"sig","alg":"RS256","kid":"\#(kid)","n":"\#(Self.base64URL(n))","e":"\#(Self.base64URL(e))"}"#))
    }

    /// A token signed with key `kid`, for this issuer unless told otherwise.
    func token(
        kid: String = "k1", scope: String? = "fhircast/*.read fhircast/*.write", hubTopic: String? = nil, topic: String? = nil,
        roles: [String]? = nil, audience: [String]? = ["castbridge"], expiresIn: Double = 600, notBefore: Double? = nil,
        issuer: String? = nil
    ) async throws -> String {
        let now = Date().timeIntervalSince1970
        let claims = Claims(
            iss: issuer ?? self.issuer, aud: audience, exp: now + expiresIn, nbf: notBefore.map { now + $0 }, scope: scope,
            hubTopic: hubTopic, topic: topic, roles: roles)
        return try await keys.signing.sign(claims, kid: JWKIdentifier(string: kid))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func json(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// The issuer's port, known once it listens (the discovery handler names it).
private final class PortBox: Sendable {
    private let value = Mutex(0)
    var port: Int {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
