import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// A POST to a subscriber's callback signed the WebSub way, as FHIRcast webhooks and Cast WebSub deliveries both
/// send it: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`.
package struct SignedCallback: Sendable {
    package let http: HTTPClient
    package let timeout: TimeAmount

    package init(http: HTTPClient, timeout: TimeAmount) {
        self.http = http
        self.timeout = timeout
    }

    package enum Result: Sendable, Equatable {
        case delivered
        /// A 4xx: the subscriber refuses the event; no retry.
        case refused(Int)
        /// A 5xx, a timeout or a connection error: worth retrying.
        case failed(String)
    }

    package func post(_ body: ByteBuffer, to callback: String, secret: String) async -> Result {
        var request = HTTPClientRequest(url: callback)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "X-Hub-Signature", value: "sha256=" + Self.signature(body, secret: secret))
        request.body = .bytes(body)
        do {
            let response = try await http.execute(request, timeout: timeout)
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let code = Int(response.status.code)
            if (200..<300).contains(code) { return .delivered }
            if (400..<500).contains(code) { return .refused(code) }
            return .failed("callback answered \(code)")
        } catch {
            return .failed("\(error)")
        }
    }

    package static func signature(_ body: ByteBuffer, secret: String) -> String {
        let mac = body.withUnsafeReadableBytes { bytes in
            HMAC<SHA256>.authenticationCode(for: bytes, using: SymmetricKey(data: Data(secret.utf8)))
        }
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// Appends query parameters, keeping the callback's own query (STU2 §1.10).
    package static func appendQuery(_ url: String, _ items: [(String, String)]) -> String {
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
