import AccessCore
import Foundation
import JWTKit

/// Any issuer's claims, decoded leniently into `TokenClaims`: `aud` as a string or a list, `scope` or `scp`, roles
/// from `roles`, Keycloak's `realm_access` and `resource_access`, topics from `hub.topic`, `topic` or `cast_topic`.
/// Lifetime, issuer and audience are judged by `TokenChecks`, not here.
struct OpenClaims: JWTPayload {
    var claims: TokenClaims

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private struct Roles: Decodable {
        var roles: [String]?
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        func string(_ k: String) -> String? { try? c.decodeIfPresent(String.self, forKey: Key(k)) }
        func strings(_ k: String) -> [String] {
            if let list = try? c.decodeIfPresent([String].self, forKey: Key(k)) { return list }
            return string(k).map { [$0] } ?? []
        }
        func date(_ k: String) -> Date? {
            (try? c.decodeIfPresent(Double.self, forKey: Key(k))).map { Date(timeIntervalSince1970: $0) }
        }
        var scopes = Set<String>()
        if let scope = string("scope") { scopes.formUnion(scope.split(separator: " ").map(String.init)) }
        scopes.formUnion(strings("scp"))
        var roles = Set(strings("roles"))
        if let realm = try? c.decodeIfPresent(Roles.self, forKey: Key("realm_access")) { roles.formUnion(realm.roles ?? []) }
        if let clients = try? c.decodeIfPresent([String: Roles].self, forKey: Key("resource_access")) {
            for client in clients.values { roles.formUnion(client.roles ?? []) }
        }
        var topics: [String] = []
        for key in ["hub.topic", "topic", "cast_topic"] {
            for topic in strings(key) where !topic.isEmpty && !topics.contains(topic) { topics.append(topic) }
        }
        claims = TokenClaims(
            issuer: string("iss"), audiences: strings("aud"), expiresAt: date("exp"), notBefore: date("nbf"),
            subject: string("user_name") ?? string("preferred_username") ?? string("sub") ?? string("client_id"),
            topics: topics, scopes: scopes, roles: roles)
    }

    func encode(to encoder: any Encoder) throws {
        throw JWTError.generic(identifier: "OpenClaims", reason: "read only")
    }

    /// Signature only; the claims are judged by `TokenChecks` and `AccessRules`.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
