import AccessCore
import JWTKit

/// Tokens signed with a shared secret (HS256): those of castbridge's own development authorization server
/// (`--auth mock`), which signs with the same secret.
package actor SharedSecretVerifier: TokenVerifier {
    private let secret: String
    private var keys: JWTKeyCollection?

    package init(secret: String) {
        self.secret = secret
    }

    package func verify(_ token: String) async -> Result<TokenClaims, TokenRefusal> {
        guard let header = JWTHeaderFields.parse(token) else { return .failure(TokenRefusal("the token is not a JWT")) }
        guard JWTHeaderFields.mockAlgorithms.contains(header.alg) else {
            return .failure(TokenRefusal("the token is signed with \(header.alg); this server's tokens are HS256"))
        }
        let keys = await self.keySet()
        do {
            return .success(try await keys.verify(token, as: OpenClaims.self).claims)
        } catch {
            return .failure(TokenRefusal("the token's signature does not verify"))
        }
    }

    private func keySet() async -> JWTKeyCollection {
        if let keys { return keys }
        let made = JWTKeyCollection()
        await made.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        keys = made
        return made
    }
}
