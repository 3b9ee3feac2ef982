import FHIRcastService
import ServiceSupport
import WebSocketTransport
import BridgeCore
import FHIRcastCore
import Foundation
import Hummingbird
import NIOCore

/// The bridge's HTTP surface on the FHIRcast side:
/// - `POST {hub.url}/{topic}/request`: run a Cast request on the topic, answer with the collated Cast body;
/// - `POST {hub.url}/{topic}/response`: reply to a Cast request that was forwarded to FHIRcast subscribers.
package struct BridgeRoutes: Sendable {
    package let bridge: CastBridge
    package let config: BridgeServiceConfiguration

    package init(bridge: CastBridge, config: BridgeServiceConfiguration) {
        self.bridge = bridge
        self.config = config
    }

    package func add(to router: Router<AppRequestContext>) {
        router.get("fhircast/payloads/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let file = await bridge.payloadFile(id) else {
                throw PlainTextError(
                    .notFound,
                    "payload '\(id)' is not found or has expired: Cast files can be downloaded for \(Int(config.castPayloadTTLSeconds)) s after they were sent")
            }
            let bridge = self.bridge
            let safeName = file.fileName.replacingOccurrences(of: "\"", with: "")
            return Response(
                status: .ok,
                headers: [
                    .contentType: file.mimeType, .contentDisposition: "attachment; filename=\"\(safeName)\"", .cacheControl: "no-store",
                ],
                body: ResponseBody(contentLength: file.size) { writer in
                    try await bridge.stream(file) { piece in try await writer.write(piece) }
                    try await writer.finish(nil)
                })
        }
        for flavor in Flavor.allCases {
            let base = "fhircast/\(flavor.rawValue)"
            router.post("\(base)/:topic/request") { request, context in
                let (topic, body) = try await self.read(request, context)
                do throws(HubError) {
                    return JSONBody.response(try await bridge.request(topic: topic, body: body))
                } catch {
                    throw PlainTextError(error)
                }
            }
            router.post("\(base)/:topic/response") { request, context in
                let (topic, body) = try await self.read(request, context)
                do throws(HubError) {
                    return JSONBody.response(try await bridge.respond(topic: topic, body: body))
                } catch {
                    throw PlainTextError(error)
                }
            }
        }
    }

    private func read(_ request: Request, _ context: AppRequestContext) async throws -> (String, JSONValue) {
        let topic = try FHIRcastRoutes.topicParameter(context)
        let type = request.headers[.contentType]?.lowercased() ?? ""
        if !type.isEmpty && !type.contains("json") {
            throw PlainTextError(.unsupportedMediaType, "unsupported Content-Type '\(type)': send application/json")
        }
        let buffer = try await FHIRcastRoutes.collect(request, limit: config.maxBodyBytes)
        do {
            return (topic, try JSONBody.decode(buffer))
        } catch {
            throw PlainTextError(error)
        }
    }
}
