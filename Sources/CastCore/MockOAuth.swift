import FHIRcastCore
import Foundation

/// The reference hub's mock OAuth code flow (cast-protocol.md §6.1): identities, one-time codes, single-user
/// mode. Signing the tokens is the edge's job; this is the bookkeeping. No I/O.
public struct MockOAuthState: Sendable {
    public struct Identity: Sendable, Hashable {
        public var userName: String
        public var topic: String
        public var count: Int
    }

    public var singleUserMode: Bool
    public static let codeLifetime: TimeInterval = 60
    /// Codes kept at most (the oldest go first), so that authorize calls cannot grow memory without bound.
    public static let maxCodes = 10_000
    private var userCount = 0
    private var codes: [String: (identity: Identity, expiresAt: Date)] = [:]

    public init(singleUserMode: Bool = false) {
        self.singleUserMode = singleUserMode
    }

    /// Resolves the identity (claims of a previous id_token, then an asserted `user_name`, then `USER-<n>`) and
    /// issues a one-time code for it.
    public mutating func authorize(
        tokenUser: String?, tokenTopic: String?, assertedUser: String?, bodyTopic: String?, code: String, now: Date
    ) -> JSONValue {
        purge(now: now)
        userCount += 1
        var user = tokenUser.flatMap { $0.isEmpty ? nil : $0 }
            ?? assertedUser.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
            ?? "USER-\(userCount)"
        var topic = tokenTopic.flatMap { $0.isEmpty ? nil : $0 } ?? user
        if singleUserMode {
            user = "SINGLE-USER"
            topic = "SINGLE-USER"
        } else if let bodyTopic = bodyTopic?.trimmingCharacters(in: .whitespaces), !bodyTopic.isEmpty {
            topic = bodyTopic
        }
        if codes.count >= Self.maxCodes, let oldest = codes.min(by: { $0.value.expiresAt < $1.value.expiresAt })?.key {
            codes.removeValue(forKey: oldest)
        }
        codes[code] = (Identity(userName: user, topic: topic, count: userCount), now.addingTimeInterval(Self.codeLifetime))
        return ["user_name": .string(user), "code": .string(code), "expires_in": .int(Int64(Self.codeLifetime))]
    }

    /// A fresh server-made identity: `USER-<n>`, its topic the body's or its own name; SINGLE-USER in that mode.
    mutating func newIdentity(bodyTopic: String?) -> Identity {
        userCount += 1
        if singleUserMode { return Identity(userName: "SINGLE-USER", topic: "SINGLE-USER", count: userCount) }
        let user = "USER-\(userCount)"
        let topic = bodyTopic.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 } ?? user
        return Identity(userName: user, topic: topic, count: userCount)
    }

    /// Redeems a code once. Errors carry the reference's `{error, error_description}` details.
    public mutating func redeem(grantType: String?, code: String?, now: Date) throws(CastError) -> Identity {
        if let grantType, !grantType.isEmpty, grantType != "authorization_code" {
            throw CastError(400, detail: [
                "error": "unsupported_grant_type",
                "error_description": .string("grant_type '\(grantType)' is not supported; use authorization_code"),
            ])
        }
        guard let code, !code.isEmpty else {
            throw CastError(400, detail: [
                "error": "invalid_request", "error_description": "Missing 'code' (obtain one via POST /oauth/authorize)",
            ])
        }
        guard let entry = codes.removeValue(forKey: code), entry.expiresAt > now else {
            throw CastError(401, detail: [
                "error": "invalid_grant", "error_description": "Authorization code is missing, used, or expired",
            ])
        }
        return entry.identity
    }

    private mutating func purge(now: Date) {
        codes = codes.filter { $0.value.expiresAt > now }
    }
}
