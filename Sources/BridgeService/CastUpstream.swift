import CastClient
import CastService
import FHIRcastService
import ServiceSupport
import WebSocketTransport
import BridgeCore
import CastCore
import FHIRcastCore
import Foundation
import Hummingbird
import NIOCore
import _NIOFileSystem

/// One live subscription of the bridge on a Cast hub: the frames it receives, and a way to answer requests.
package struct CastLink: Sendable {
    /// Frames from the hub, in order; the stream ends when the connection does.
    package let frames: AsyncStream<SessionCommand>
    /// Sends one text frame (a `*-response`); false when the connection is gone.
    package let send: @Sendable (JSONValue) async -> Bool
    /// Ends the connection.
    package let close: @Sendable () async -> Void
}

/// A Cast hub the bridge works through: the embedded hub in process, or an external one over HTTP and WebSocket.
/// The translation and the bridge's behaviour are the same for both; only this transport differs.
package protocol CastUpstream: Sendable {
    /// For logs and `/health`.
    var label: String { get }
    /// Subscribes to every topic (`*`) for these events and binds the subscription. On a hub that compares topics
    /// literally (generation B) the link starts empty, and `follow(topics:)` adds one subscription per topic.
    func connect(events: [String], identity: BridgeIdentity) async throws -> CastLink
    /// The topics to hold subscriptions on, over the current link, on a hub that compares topics literally; called
    /// whenever the topics that exist for FHIRcast apps change, and after each connect. Other hubs ignore it.
    func follow(topics: Set<String>) async
    func publish(_ envelope: JSONValue, topic: String) async -> PublishOutcome
    /// Publishes a binary batch (cast-protocol.md §4.1): a `multipart/related` body, envelope first.
    func publishBatch(_ body: ByteBuffer, contentType: String, topic: String) async -> PublishOutcome
    /// Runs a request and returns the collated body (cast-protocol.md §3.1).
    func request(_ request: CastRequest) async throws(HubError) -> JSONValue
    /// Streams one stored chunk of a binary event (`payloadIds[i]`), piece by piece; throws `PayloadGone` when the
    /// hub no longer has it.
    func readPayload(_ id: String, into body: (ByteBuffer) async throws -> Void) async throws
}

/// A Cast payload chunk that is unknown or has expired on the Cast hub.
package struct PayloadGone: Error, CustomStringConvertible {
    package var id: String
    package var description: String { "Cast payload \(id) is not found or has expired" }
}

/// A binary batch as Cast clients send it: the envelope as `application/dicom+json`, then one part per file with
/// bytes, in manifest order.
package enum CastBatch {
    package static func make(envelope: JSONValue, files: [OutgoingFile]) -> (body: ByteBuffer, contentType: String) {
        let boundary = "castbridge-" + UUID().uuidString.lowercased()
        var body = ByteBuffer()
        body.writeString("--\(boundary)\r\nContent-Type: application/dicom+json\r\n\r\n")
        var json = JSONBody.encode(envelope)
        body.writeBuffer(&json)
        for file in files {
            guard case .bytes(let bytes) = file.source else { continue }
            body.writeString("\r\n--\(boundary)\r\nContent-Type: \(file.mimeType)\r\n\r\n")
            body.writeBytes(bytes)
        }
        body.writeString("\r\n--\(boundary)--\r\n")
        return (body, "multipart/related; boundary=\(boundary); type=\"application/dicom\"")
    }
}

extension CastUpstream {
    /// The subscribe fields every bridge subscription carries.
    package static func subscribeFields(events: [String], identity: BridgeIdentity) -> [String: String] {
        var subscriber = CastSubscriber(
            topic: "*", events: [], name: identity.subscriberName, actors: identity.actors, productName: identity.productName,
            productVersion: identity.productVersion)
        subscriber.events = events  // as the mappings name them
        var fields = subscriber.fields
        fields["subscriber.actors"] = String(buffer: JSONBody.encode(.array(identity.actors.map(JSONValue.string))))
        fields["hub.lease_seconds"] = "7200"
        fields["subscriber.client_info"] = String(buffer: JSONBody.encode(["productName": .string(identity.productName)]))
        return fields
    }
}

/// The embedded Cast hub as the upstream: the bridge subscribes and binds like any Cast client, through an
/// in-process queue instead of a socket.
package struct EmbeddedCastUpstream: CastUpstream {
    package let hub: CastHub
    package let capacity: Int

    package init(hub: CastHub, capacity: Int) {
        self.hub = hub
        self.capacity = capacity
    }

    package var label: String { "embedded" }

    /// The bridge's `*` subscription already matches every topic here.
    package func follow(topics: Set<String>) async {}

    package func connect(events: [String], identity: BridgeIdentity) async throws -> CastLink {
        let fields = Self.subscribeFields(events: events, identity: identity).mapValues(JSONValue.string)
        // This node's own: in a cluster each node's bridge takes only the events its own hub took.
        let sub = try await hub.subscribe(CastFields(fields), nodeLocal: true)
        let (sink, commands) = WebSocketSink.queue(capacity: capacity)
        await hub.bind(sub.endpoint, sink: sink)
        let hub = self.hub
        let endpoint = sub.endpoint
        return CastLink(
            frames: commands,
            send: { frame in
                await hub.received(frame, from: endpoint)
                return true
            },
            close: {
                sink.finish()
                await hub.unbind(endpoint, sink: sink)
            })
    }

    package func publish(_ envelope: JSONValue, topic: String) async -> PublishOutcome {
        do {
            try await hub.publish(envelope, host: nil)
            return .sent
        } catch {
            return .failed("the Cast hub refused it: \(error.detail.stringValue ?? "\(error.detail)")")
        }
    }

    package func request(_ request: CastRequest) async throws(HubError) -> JSONValue {
        await hub.request(request)
    }

    /// Through the same upload path as any Cast client's batch: checked, stored in chunks, then fanned out.
    package func publishBatch(_ body: ByteBuffer, contentType: String, topic: String) async -> PublishOutcome {
        do throws(CastError) {
            let store = try await hub.payloadStore()
            let envelope = try await CastUpload(
                store: store, maxManifestBytes: max(body.readableBytes, 1 << 20), refuseWhenFull: true
            ).receive(RequestBody(buffer: body), contentType: contentType)
            try await hub.publish(envelope, host: nil)
            return .sent
        } catch {
            if error.status == 507 { return .busy(error.detail.stringValue ?? "the Cast payload store is full") }
            return .failed("the Cast hub refused the batch: \(error.detail.stringValue ?? "\(error.detail)")")
        }
    }

    package func readPayload(_ id: String, into body: (ByteBuffer) async throws -> Void) async throws {
        let store = try await hub.payloadStore()
        switch try await store.find(id) {
        case nil:
            throw PayloadGone(id: id)
        case .local(let entry)?:
            try await FileSystem.shared.withFileHandle(forReadingAt: entry.path) { handle in
                for try await piece in handle.readChunks(in: 0..., chunkLength: .kibibytes(256)) { try await body(piece) }
            }
        case .shared(let payload)?:
            try await body(payload.bytes)
        }
    }
}
