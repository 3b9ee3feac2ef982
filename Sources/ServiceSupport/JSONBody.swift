import FHIRcastCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOFoundationCompat

/// JSON in and out of the edges. Encoding happens once per message, never per subscriber.
package enum JSONBody {
    package static func encode(_ value: JSONValue) -> ByteBuffer {
        ByteBuffer(bytes: value.jsonBytes)
    }

    package static func decode(_ buffer: ByteBuffer) throws(HubError) -> JSONValue {
        guard buffer.readableBytes > 0 else { throw .badRequest("empty request body") }
        do {
            return try JSONValue.parse(Data(buffer: buffer, byteTransferStrategy: .noCopy))
        } catch {
            throw .badRequest("request body is not valid JSON")
        }
    }

    package static func response(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: encode(value)))
    }
}
