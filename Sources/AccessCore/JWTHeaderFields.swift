import Foundation

/// The two header fields read before a token's signature is checked: which algorithm it claims and which key it
/// names. Checked against the algorithms the mode allows, so that `none`, or HS256 against a published public key,
/// is refused before any key is tried.
public struct JWTHeaderFields: Sendable, Equatable {
    public var alg: String
    public var kid: String?

    public init(alg: String, kid: String?) {
        self.alg = alg
        self.kid = kid
    }

    /// Algorithms accepted from an OpenID Connect provider's published keys.
    public static let oidcAlgorithms: Set<String> = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
    /// castbridge's own development server signs with a shared secret.
    public static let mockAlgorithms: Set<String> = ["HS256"]

    /// The header of a compact JWS (`header.payload.signature`), or nil when it is not one.
    public static func parse(_ token: String) -> JWTHeaderFields? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let data = base64URLDecode(parts[0]),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let alg = object["alg"] as? String
        else { return nil }
        return JWTHeaderFields(alg: alg, kid: object["kid"] as? String)
    }

    static func base64URLDecode(_ text: Substring) -> Data? {
        guard text.count <= 8192 else { return nil }
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s.append("=") }
        return Data(base64Encoded: s)
    }
}
