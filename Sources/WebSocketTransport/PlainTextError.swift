import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An HTTP error answered with a one-line, human-readable `text/plain` reason (C11).
public struct PlainTextError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let message: String
    /// `Retry-After` in seconds, for a temporary refusal.
    public let retryAfter: Int?
    /// `WWW-Authenticate`, for a refused token (RFC 6750 §3).
    public let wwwAuthenticate: String?

    public init(_ status: HTTPResponse.Status, _ message: String, retryAfter: Int? = nil, wwwAuthenticate: String? = nil) {
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
        self.wwwAuthenticate = wwwAuthenticate
    }

    /// The body: the message on one line.
    package var bodyLine: ByteBuffer { ByteBuffer(string: message.replacingOccurrences(of: "\n", with: " ") + "\n") }

    /// The whole answer, for the edges that write it themselves and then close the connection (refused upgrades).
    package var closingResponse: (head: HTTPResponse, body: ByteBuffer) {
        let body = bodyLine
        let head = HTTPResponse(
            status: status,
            headerFields: [.contentType: "text/plain; charset=utf-8", .contentLength: String(body.readableBytes), .connection: "close"])
        return (head, body)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if let wwwAuthenticate { headers[.wwwAuthenticate] = wwwAuthenticate }
        return Response(status: status, headers: headers, body: .init(byteBuffer: bodyLine))
    }
}
