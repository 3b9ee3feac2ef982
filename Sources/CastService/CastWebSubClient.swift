import AccessCore
import ServiceSupport
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// The Cast hub's WebSub channel (cast-protocol.md §1.1): its non-standard verification, and signed deliveries.
package struct CastWebSubClient: Sendable {
    /// Where callbacks may point, and the clients pinned to their addresses (the FHIRcast webhooks' rules).
    package let pins: CallbackPins
    package let logger: Logger

    /// GET `callback?hub.challenge=<secret>&hub.topic=<topic>`; verified only on 200 with exactly the secret.
    package func verify(callback: String, secret: String, topic: String) async -> Bool {
        let url = SignedCallback.appendQuery(callback, [("hub.challenge", secret), ("hub.topic", topic)])
        guard case .success(let http) = await pins.client(for: callback) else { return false }
        do {
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
            let body = try await response.body.collect(upTo: 64 * 1024)
            return response.status.code == 200 && ConstantTime.equals(String(buffer: body), secret)
        } catch {
            logger.info("Cast WebSub verification failed", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// POSTs the envelope with `X-Hub-Signature: sha256=<hex HMAC of the body>`; no retries, as on the reference.
    package func post(_ body: ByteBuffer, callback: String, secret: String) async {
        guard case .success(let http) = await pins.client(for: callback) else { return }
        if case .failed(let why) = await SignedCallback(http: http, timeout: .seconds(10)).post(body, to: callback, secret: secret) {
            logger.info("Cast WebSub delivery failed", metadata: ["error": "\(why)"])
        }
    }
}
