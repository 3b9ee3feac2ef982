import FHIRcastCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An HTTP error answered with a one-line, human-readable `text/plain` reason (C11).
public struct PlainTextError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let message: String

    public init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    public init(_ error: HubError) {
        self.init(HTTPResponse.Status(code: error.status), error.message)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let line = message.replacingOccurrences(of: "\n", with: " ") + "\n"
        return Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: line)))
    }
}
