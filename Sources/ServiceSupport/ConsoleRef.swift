import Crypto

/// The admin console's name for a subscription: a digest of its id, which shows nothing of the id. A WebSocket
/// subscription's id is its endpoint, the capability to connect and read the topic's events, so the console never
/// shows it; its actions name the subscription by this reference instead.
package enum ConsoleRef {
    package static func of(_ id: String) -> String {
        let digest = SHA256.hash(data: Array("castbridge-console:\(id)".utf8))
        return digest.prefix(12).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
