import AsyncHTTPClient
import Crypto
import FHIRcastCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Outbound HTTP for STU2 webhook subscribers: intent verification, signed deliveries, denials.
struct WebhookClient: Sendable {
    let http: HTTPClient
    let timeout: TimeAmount
    let logger: Logger

    enum Verification: Sendable, Equatable { case confirmed, refused, failed(String) }

    /// GETs the callback with hub.mode, hub.topic, hub.events, hub.challenge and hub.lease_seconds appended to its
    /// own query; success only on 2xx with the challenge as body; 404 means the subscriber declines.
    func verify(_ sub: Subscription, callback: String) async -> Verification {
        let challenge = SubscriptionID.random().raw
        let url = Self.appendQuery(
            callback,
            [
                ("hub.mode", "subscribe"), ("hub.topic", sub.topic), ("hub.events", sub.eventsString),
                ("hub.challenge", challenge), ("hub.lease_seconds", String(sub.leaseSeconds)),
            ])
        do {
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: timeout)
            let body = try await response.body.collect(upTo: 64 * 1024)
            let text = String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines)
            if response.status == .notFound { return .refused }
            guard (200..<300).contains(Int(response.status.code)) else {
                return .failed("verification answered \(response.status.code)")
            }
            return text == challenge ? .confirmed : .failed("verification response did not echo the challenge")
        } catch {
            return .failed("verification request failed: \(error)")
        }
    }

    enum DeliveryResult: Sendable, Equatable {
        case delivered
        /// A 4xx: the subscriber refuses the event; no retry.
        case refused(Int)
        /// A 5xx, a timeout or a connection error: worth retrying.
        case failed(String)
    }

    /// POSTs one event with `X-Hub-Signature: sha256=<hex HMAC of the body>`.
    func deliver(_ body: ByteBuffer, callback: String, secret: String, timeout: TimeAmount? = nil) async -> DeliveryResult {
        var request = HTTPClientRequest(url: callback)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "X-Hub-Signature", value: "sha256=" + Self.signature(body, secret: secret))
        request.body = .bytes(body)
        do {
            let response = try await http.execute(request, timeout: timeout ?? self.timeout)
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let code = Int(response.status.code)
            if (200..<300).contains(code) { return .delivered }
            if (400..<500).contains(code) { return .refused(code) }
            return .failed("callback answered \(code)")
        } catch {
            return .failed("\(error)")
        }
    }

    /// Tells a webhook subscriber it has been denied: GET with hub.mode=denied (STU2).
    func sendDenial(_ sub: Subscription, callback: String, reason: String) async {
        let url = Self.appendQuery(
            callback,
            [("hub.mode", "denied"), ("hub.topic", sub.topic), ("hub.events", sub.eventsString), ("hub.reason", reason)])
        do {
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: timeout)
            _ = try? await response.body.collect(upTo: 64 * 1024)
        } catch {
            logger.info("denial to webhook subscriber failed", metadata: ["error": "\(error)"])
        }
    }

    static func signature(_ body: ByteBuffer, secret: String) -> String {
        let mac = body.withUnsafeReadableBytes { bytes in
            HMAC<SHA256>.authenticationCode(for: bytes, using: SymmetricKey(data: Data(secret.utf8)))
        }
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Appends query parameters, keeping the callback's own query (STU2 §1.10).
    static func appendQuery(_ url: String, _ items: [(String, String)]) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        let query = items.map { name, value in
            "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
        var base = url
        var fragment = ""
        if let hash = base.firstIndex(of: "#") {
            fragment = String(base[hash...])
            base = String(base[..<hash])
        }
        let separator = base.contains("?") ? (base.hasSuffix("?") || base.hasSuffix("&") ? "" : "&") : "?"
        return base + separator + query + fragment
    }
}
