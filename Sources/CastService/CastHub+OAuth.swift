import CastCore
import FHIRcastCore
import Foundation
import JWTKit

/// The embedded hub's development authorization server: the reference's mock OAuth code flow and client credentials
/// (cast-protocol.md §6.1), whose HS256 tokens `--auth mock` accepts on both hubs.
extension CastHub {
    private func tokenService() async -> CastTokens {
        if let tokens { return tokens }
        let made = await CastTokens(secret: config.castJWTSecret)
        tokens = made
        return made
    }

    private func requireMockOAuth() throws(CastError) {
        guard config.castMockOAuth else {
            throw CastError(503, detail: [
                "error": "mock_oauth_disabled",
                "error_description": "Hub mock OAuth is disabled; use your OIDC provider's endpoints",
            ])
        }
    }

    /// POST /oauth/authorize: a one-time code for the identity of an id_token (expired accepted), an asserted
    /// user_name, or a new `USER-<n>`.
    package func authorize(_ body: [String: JSONValue]) async throws(CastError) -> JSONValue {
        try requireMockOAuth()
        var tokenUser: String?
        var tokenTopic: String?
        if let idToken = body["id_token"]?.stringValue?.trimmingCharacters(in: .whitespaces), !idToken.isEmpty {
            guard let claims = await tokenService().claims(of: idToken) else {
                throw CastError(401, detail: ["error": "invalid_token", "error_description": "Signature mismatch or malformed JWT"])
            }
            tokenUser = claims.user_name
            tokenTopic = claims.topic
        }
        let code = SubscriptionID.random().raw + SubscriptionID.random().raw
        return oauth.authorize(
            tokenUser: tokenUser, tokenTopic: tokenTopic, assertedUser: body["user_name"]?.stringValue,
            bodyTopic: body["topic"]?.stringValue, code: code, now: Date())
    }

    /// What the development server grants when a client asks for no scope: everything FHIRcast (Docs/security.md).
    package static let defaultMockScope = "openid fhircast/*.read fhircast/*.write"

    /// POST /oauth/token: redeems a code for an access token and an id token (HS256). The answer carries the scopes
    /// asked for (all of FHIRcast when none were) and, as SMART's launch does for FHIRcast apps, `hub.url` and
    /// `hub.topic` (C7).
    package func token(_ body: [String: JSONValue], hubURL: String? = nil) async throws(CastError) -> JSONValue {
        try requireMockOAuth()
        let grantType = body["grant_type"]?.stringValue
        // Generation B's client_credentials (the PW44-era OHIF client), answered with its extra fields.
        var legacySubscriberName: String?
        let identity: MockOAuthState.Identity
        if grantType == "client_credentials" {
            let suffix = String(SubscriptionID.random().raw.prefix(6)).uppercased()
            let made = oauth.clientCredentials(
                bodyTopic: body["topic"]?.stringValue, productName: body["client_product_name"]?.stringValue, suffix: suffix)
            identity = made.0
            legacySubscriberName = made.subscriberName
        } else {
            identity = try oauth.redeem(grantType: grantType, code: body["code"]?.stringValue, now: Date())
        }
        let service = await tokenService()
        let now = Date()
        let asked = body["scope"]?.stringValue?.split(separator: " ").joined(separator: " ") ?? ""
        let scope = asked.isEmpty ? Self.defaultMockScope : asked
        do {
            let access = try await service.issue(identity, type: "access", scope: scope, now: now)
            let id = try await service.issue(identity, type: "id", scope: scope, now: now)
            var answer: [String: JSONValue] = [
                "token_type": "Bearer", "expires_in": .int(Int64(CastTokens.lifetime)), "scope": .string(scope),
                "topic": .string(identity.topic), "id_token": .string(id), "access_token": .string(access),
                "hub.topic": .string(identity.topic),
            ]
            if let hubURL { answer["hub.url"] = .string(hubURL) }
            if let legacySubscriberName {
                answer["user_name"] = .string(identity.userName)
                answer["subscriber_name"] = .string(legacySubscriberName)
            }
            return .object(answer)
        } catch {
            throw CastError(500, "could not sign the token")
        }
    }

    /// With `castRequireAuth`, a valid, unexpired bearer token signed by this hub is required.
    package func checkBearer(_ authorization: String?) async throws(CastError) {
        guard config.castRequireAuth else { return }
        func invalid(_ why: String) -> CastError {
            CastError(401, detail: ["error": "invalid_token", "error_description": .string(why)])
        }
        guard let header = authorization, header.lowercased().hasPrefix("bearer ") else {
            throw invalid("Missing Authorization Bearer token")
        }
        let token = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard let claims = await tokenService().claims(of: token) else { throw invalid("Signature mismatch or malformed JWT") }
        guard claims.exp.value > Date() else { throw invalid("Token expired") }
    }
}
