import AccessCore
import AsyncHTTPClient
import ServiceSupport
import FHIRcastCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Outbound HTTP for STU2 webhook subscribers: intent verification, signed deliveries, denials.
package struct WebhookClient: Sendable {
    package init(pins: CallbackPins, timeout: TimeAmount, logger: Logger) {
        self.pins = pins
        self.timeout = timeout
        self.logger = logger
    }

    /// Where callbacks may go, and the clients pinned to their addresses.
    package let pins: CallbackPins
    package let timeout: TimeAmount
    package let logger: Logger

    package enum Verification: Sendable, Equatable { case confirmed, refused, failed(String) }

    /// GETs the callback with hub.mode, hub.topic, hub.events, hub.challenge and hub.lease_seconds appended to its
    /// own query; success only on 2xx with the challenge as body; 404 means the subscriber declines.
    package func verify(_ sub: Subscription, callback: String) async -> Verification {
        let challenge = SubscriptionID.random().raw
        let url = SignedCallback.appendQuery(
            callback,
            [
                ("hub.mode", "subscribe"), ("hub.topic", sub.topic), ("hub.events", sub.eventsString),
                ("hub.challenge", challenge), ("hub.lease_seconds", String(sub.leaseSeconds)),
            ])
        let http: HTTPClient
        switch await pins.client(for: callback) {
        case .success(let client): http = client
        case .failure(let refusal): return .failed(refusal.description)
        }
        do {
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: timeout)
            let body = try await response.body.collect(upTo: 64 * 1024)
            let text = String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines)
            if response.status == .notFound { return .refused }
            guard (200..<300).contains(Int(response.status.code)) else {
                return .failed("verification answered \(response.status.code)")
            }
            return ConstantTime.equals(text, challenge) ? .confirmed : .failed("verification response did not echo the challenge")
        } catch {
            return .failed("verification request failed: \(error)")
        }
    }

    /// POSTs one event with `X-Hub-Signature: sha256=<hex HMAC of the body>`.
    package func deliver(_ body: ByteBuffer, callback: String, secret: String, timeout: TimeAmount? = nil) async -> SignedCallback.Result {
        switch await pins.client(for: callback) {
        case .success(let http): return await SignedCallback(http: http, timeout: timeout ?? self.timeout).post(body, to: callback, secret: secret)
        case .failure(let refusal): return .failed(refusal.description)
        }
    }

    /// Tells a webhook subscriber it has been denied: GET with hub.mode=denied (STU2).
    package func sendDenial(_ sub: Subscription, callback: String, reason: String) async {
        let url = SignedCallback.appendQuery(
            callback,
            [("hub.mode", "denied"), ("hub.topic", sub.topic), ("hub.events", sub.eventsString), ("hub.reason", reason)])
        guard case .success(let http) = await pins.client(for: callback) else { return }
        do {
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: timeout)
            _ = try? await response.body.collect(upTo: 64 * 1024)
        } catch {
            logger.info("denial to webhook subscriber failed", metadata: ["error": "\(error)"])
        }
    }

}
