import CastClient
import BridgeService
import Synchronization
import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOHTTP1
import AsyncHTTPClient
import NIOCore
import TestSupport
import Testing

/// A Cast app's steps against a castbridge's embedded Cast hub (or any Cast hub at `base`).
extension TestServer {
    /// Subscribes to the embedded Cast hub and binds; returns the socket after `connection.established`.
    func castSubscriber(topic: String, events: String, name: String, actors: String? = nil, product: String? = nil) async throws -> (TestSocket, String) {
        try await Self.castSubscriber(base: base, topic: topic, events: events, name: name, actors: actors, product: product)
    }

    static func castSubscriber(
        base: String, topic: String, events: String, name: String, actors: String? = nil, product: String? = nil, bearer: String? = nil
    ) async throws -> (TestSocket, String) {
        var form = [("hub.mode", "subscribe"), ("hub.channel.type", "websocket"), ("hub.topic", topic), ("hub.events", events), ("subscriber.name", name)]
        if let actors { form.append(("subscriber.actors", actors)) }
        if let product { form.append(("subscriber.product.name", product)) }
        let body = FormBody.encode(form)
        let result = try await Self.request(.POST, "\(base)/api/hub", body: body, contentType: "application/x-www-form-urlencoded", bearer: bearer)
        guard result.status == 202, let endpoint = result.json?["hub.channel.endpoint"]?.stringValue else {
            throw TestFailure("cast subscribe failed: \(result.status) \(result.body)")
        }
        // As every Cast client does: the socket URL on the scheme and host the client was configured with.
        let socket = try await TestSocket.connect(RemoteHubURL.rebase(endpoint, onto: base))
        guard let first = try await socket.nextJSON(), first["type"] == "connection.established" else {
            throw TestFailure("no connection.established")
        }
        return (socket, endpoint)
    }

    func castPost(_ body: JSONValue, path: String = "/api/hub") async throws -> HTTPResult {
        try await Self.request(.POST, "\(base)\(path)", body: String(decoding: try JSONEncoder().encode(body), as: UTF8.self), contentType: "application/json")
    }
}
