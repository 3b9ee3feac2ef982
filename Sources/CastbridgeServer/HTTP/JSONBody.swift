import FHIRcastCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// JSON in and out of the edges. Encoding happens once per message, never per subscriber.
enum JSONBody {
    static func encode(_ value: JSONValue) -> ByteBuffer {
        // JSONValue holds only encodable values, so encoding cannot fail.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("null".utf8)
        return ByteBuffer(bytes: data)
    }

    static func decode(_ buffer: ByteBuffer) throws(HubError) -> JSONValue {
        guard buffer.readableBytes > 0 else { throw .badRequest("empty request body") }
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(buffer: buffer))
        } catch {
            throw .badRequest("request body is not valid JSON")
        }
    }

    static func response(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: encode(value)))
    }
}

extension Data {
    init(buffer: ByteBuffer) {
        self = buffer.withUnsafeReadableBytes { Data($0) }
    }
}
