import AccessCore
import AsyncHTTPClient
import Foundation
import JWTKit
import Logging
import NIOCore
import NIOHTTP1

/// Tokens from an OpenID Connect provider (Keycloak first; anything with discovery and JWKS): the keys come from
/// the `jwks_uri` of `{issuer}/.well-known/openid-configuration`, and are kept. A token naming a key id not among
/// them fetches the key set again, at most once per `refetchInterval`, so a provider's key rotation needs no restart
/// and a flood of made-up key ids costs one fetch per interval.
///
/// `discovery`: where castbridge reads the discovery document when it cannot reach the provider by the issuer's own
/// address (containers: the browser's `http://localhost:8180/realms/x` is `http://keycloak:8080/realms/x` inside the
/// network). The document must still name `issuer`, and tokens must still carry it.
package actor OIDCVerifier: TokenVerifier {
    package nonisolated let issuer: String
    private let discoveryBase: String
    private let http: HTTPClient
    private let refetchInterval: Duration
    private let logger: Logger
    private var keys = JWTKeyCollection()
    private var kids: Set<String> = []
    private var jwksURI: String?
    private var lastFetch: ContinuousClock.Instant?

    package init(
        issuer: String, discovery: String? = nil, http: HTTPClient = .shared, refetchInterval: Duration = .seconds(10), logger: Logger
    ) {
        var issuer = issuer
        while issuer.hasSuffix("/") { issuer.removeLast() }
        self.issuer = issuer
        var base = discovery ?? issuer
        while base.hasSuffix("/") { base.removeLast() }
        self.discoveryBase = base
        self.http = http
        self.refetchInterval = refetchInterval
        self.logger = logger
    }

    package func verify(_ token: String) async -> Result<TokenClaims, TokenRefusal> {
        guard let header = JWTHeaderFields.parse(token) else { return .failure(TokenRefusal("the token is not a JWT")) }
        guard JWTHeaderFields.oidcAlgorithms.contains(header.alg) else {
            return .failure(
                TokenRefusal(
                    "the token is signed with \(header.alg); accepted: \(JWTHeaderFields.oidcAlgorithms.sorted().joined(separator: ", "))"))
        }
        if header.kid.map({ !kids.contains($0) }) ?? kids.isEmpty {
            if let refusal = await refetch() { return .failure(refusal) }
        }
        switch header.kid {
        case .some(let kid):
            guard kids.contains(kid) else { return .failure(TokenRefusal("the token names a key ('\(kid)') the issuer does not publish")) }
        case .none:
            guard kids.count == 1 else { return .failure(TokenRefusal("the token names no key ('kid') and the issuer publishes \(kids.count)")) }
        }
        do {
            return .success(try await keys.verify(token, as: OpenClaims.self).claims)
        } catch {
            return .failure(TokenRefusal("the token's signature does not verify"))
        }
    }

    /// Fetches the key set again unless that was done within the interval; a refusal when it cannot be had.
    private func refetch() async -> TokenRefusal? {
        let now = ContinuousClock.now
        if let lastFetch, now - lastFetch < refetchInterval { return nil }
        lastFetch = now
        do {
            let uri: String
            if let jwksURI {
                uri = jwksURI
            } else {
                let discovery = try JSONDecoder().decode(Discovery.self, from: Data(String(buffer: try await get("\(discoveryBase)/.well-known/openid-configuration")).utf8))
                guard discovery.issuer?.trimmingSlash == issuer else {
                    return TokenRefusal("the provider's discovery document names another issuer", status: 503)
                }
                guard let found = discovery.jwks_uri else {
                    return TokenRefusal("the provider's discovery document has no jwks_uri", status: 503)
                }
                uri = found
                jwksURI = found
            }
            let jwks = try JSONDecoder().decode(JWKS.self, from: Data(String(buffer: try await get(uri)).utf8))
            let fresh = JWTKeyCollection()
            try await fresh.add(jwks: jwks)
            keys = fresh
            kids = Set(jwks.keys.compactMap { $0.keyIdentifier?.string })
            logger.info("OpenID Connect keys fetched", metadata: ["issuer": "\(issuer)", "keys": "\(kids.count)"])
            return nil
        } catch {
            logger.warning("OpenID Connect keys could not be fetched", metadata: ["issuer": "\(issuer)", "error": "\(error)"])
            return TokenRefusal("the OpenID Connect provider's keys cannot be fetched (\(error))", status: 503)
        }
    }

    private func get(_ url: String) async throws -> ByteBuffer {
        let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw TokenRefusal("\(url) answered \(response.status.code)", status: 503) }
        return body
    }

    /// What castbridge reads of the discovery document.
    private struct Discovery: Decodable {
        var issuer: String?
        var jwks_uri: String?
    }
}

extension String {
    fileprivate var trimmingSlash: String {
        var s = self
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }
}
