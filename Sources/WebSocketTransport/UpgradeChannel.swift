import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// One kind of WebSocket endpoint (`/fhircast/ws/{id}`, `/bind/{endpoint}`): who may connect, how its sockets
/// behave, and what happens once one is open.
package protocol WebSocketEndpoint: Sendable {
    /// The path up to the endpoint's id, with both slashes: `/bind/`.
    var pathPrefix: String { get }
    /// Nil when a socket may connect to `id`; otherwise the HTTP answer to the upgrade request.
    func refusal(for id: String) async -> PlainTextError?
    func options(for id: String) -> SocketOptions
    /// The socket is open: attaches it to its hub. Returns who takes the socket's events, or nil when the hub
    /// refused it after all (the sink has been closed).
    func attach(id: String, sink: WebSocketSink) async -> SocketConsumer?
}

/// A connection to the server: HTTP/1.1 through Hummingbird, or a WebSocket upgrade handled here.
///
/// Hummingbird's own upgrade channel keeps a task and an async channel per socket for as long as it is open. Here
/// the upgrade is NIO's (`NIOTypedWebSocketServerUpgrader`), and an upgraded socket is only its channel pipeline
/// with a `SocketSession` at the end: the connection's task ends as soon as the socket is attached to its hub.
///
/// - A request without `Upgrade: websocket` goes to the router (`handleHTTP`).
/// - An upgrade to a known endpoint that the endpoint accepts gets 101; one it refuses gets the refusal (for
///   FHIRcast, 404 with the reason, C15); an upgrade to any other path gets 404; one without a valid
///   `Sec-WebSocket-Key` and `Sec-WebSocket-Version: 13`, or without `Connection: Upgrade`, gets 400.
/// - NIO reads an upgrade only in a connection's first request. A later one is answered with a redirect to the
///   same URI and the connection is closed, so that the client upgrades on a new connection (as Hummingbird does).
package struct UpgradeChannel: ServerChildChannel, HTTPChannelHandler {
    package enum Upgrade: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, PlainTextError)
        /// Attaches the socket to its hub.
        case webSocket(@Sendable () async -> Void)
    }

    package struct Value: ServerChildChannelValue {
        let upgrade: EventLoopFuture<Upgrade>
        package let channel: any Channel
    }

    /// What the upgrade check found.
    fileprivate enum Decision: Sendable {
        case accept(any WebSocketEndpoint, id: String)
        case refuse(PlainTextError)
    }

    private static let upgradeErrorsName = "castbridge.upgrade-errors"

    package let responder: Responder
    package let endpoints: [any WebSocketEndpoint]
    package let maxMessageBytes: Int

    package init(responder: @escaping Responder, endpoints: [any WebSocketEndpoint], maxMessageBytes: Int) {
        self.responder = Self.upgradeOnFreshConnection(responder)
        self.endpoints = endpoints
        self.maxMessageBytes = maxMessageBytes
    }

    package func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let decision = NIOLoopBoundBox<Decision?>(nil, eventLoop: channel.eventLoop)
            let upgrader = NIOTypedWebSocketServerUpgrader<Upgrade>(
                maxFrameSize: maxMessageBytes,
                shouldUpgrade: { channel, head in
                    channel.eventLoop.makeFutureWithTask { await self.decide(head.uri) }.map { found -> HTTPHeaders? in
                        decision.value = found
                        if case .accept = found { return [:] }
                        return nil
                    }
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        guard case .accept(let endpoint, let id) = decision.value else { throw ChannelError.inappropriateOperationForState }
                        channel.pipeline.syncOperations.removeHandler(name: Self.upgradeErrorsName, promise: nil)
                        let direct = try DirectPath.install(on: channel, options: endpoint.options(for: id), maxMessageBytes: maxMessageBytes)
                        return .webSocket {
                            if let consumer = await endpoint.attach(id: id, sink: WebSocketSink(direct: direct)) {
                                direct.start(consumer)
                            }
                        }
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<Upgrade>(
                upgradeConfiguration: NIOTypedHTTPServerUpgradeConfiguration(
                    upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let ops = channel.pipeline.syncOperations
                            ops.removeHandler(name: Self.upgradeErrorsName, promise: nil)
                            try ops.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                            try ops.addHandler(HTTPConnectionStateHandler(logger: logger))
                            let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                            if case .refuse(let error) = decision.value { return .refused(http, error) }
                            return .http(http)
                        }
                    }))
            // As Hummingbird's HTTP/1 channel has it: it pipelines, answers errors and validates headers itself.
            configuration.enablePipelining = false
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            let upgrade = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            try channel.pipeline.syncOperations.addHandler(UpgradeErrors(decision: decision), name: Self.upgradeErrorsName)
            return Value(upgrade: upgrade, channel: channel)
        }
    }

    package func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgrade.get() {
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http, let error):
                try await http.executeThenClose { _, outbound in
                    let (head, body) = error.closingResponse
                    try await outbound.write(contentsOf: [.head(head), .body(body), .end(nil)])
                }
            case .webSocket(let attach):
                await attach()
            }
        } catch {
            logger.debug("connection ended before its first request was answered", metadata: ["error": "\(error)"])
        }
    }

    private func decide(_ uri: String) async -> Decision {
        let path = URI(uri).path
        for endpoint in endpoints where path.hasPrefix(endpoint.pathPrefix) {
            let id = String(path.dropFirst(endpoint.pathPrefix.count))
            guard !id.isEmpty, !id.contains("/") else { continue }
            if let refusal = await endpoint.refusal(for: id) { return .refuse(refusal) }
            return .accept(endpoint, id: id)
        }
        return .refuse(PlainTextError(.notFound, "no websocket endpoint at \(path)"))
    }

    /// Ends a connection after its answer (thrown out of the responder, which closes the connection).
    private struct EndConnection: Error {}

    private static func upgradeOnFreshConnection(_ responder: @escaping Responder) -> Responder {
        { request, writer, channel in
            guard request.headers[.upgrade]?.lowercased() == "websocket" else {
                return try await responder(request, writer, channel)
            }
            guard let connection = request.headers[.connection], connection.lowercased().contains("upgrade") else {
                // Not an upgrade NIO would take on any connection: say so rather than redirect.
                let (head, body) = PlainTextError(.badRequest, "a websocket upgrade needs Connection: Upgrade").closingResponse
                try await writer.write(response: head, body: .init(byteBuffer: body))
                throw EndConnection()  // ends the connection
            }
            try await writer.writeResponse(
                HTTPResponse(status: .temporaryRedirect, headerFields: [.connection: "close", .location: request.uri.description]))
            throw EndConnection()  // ends the connection
        }
    }
}

/// Sits after NIO's upgrade handler until the first request is settled. NIO's WebSocket upgrader reports headers it
/// cannot accept (no `Sec-WebSocket-Key`, a version other than 13) by firing an error down the pipeline, and the
/// request is then lost; this records a 400 with the reason instead, so that the client is told what is wrong
/// rather than seeing the connection close.
private final class UpgradeErrors: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = NIOAny

    private let decision: NIOLoopBoundBox<UpgradeChannel.Decision?>

    package init(decision: NIOLoopBoundBox<UpgradeChannel.Decision?>) { self.decision = decision }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? NIOWebSocketUpgradeError else {
            context.fireErrorCaught(error)
            return
        }
        // `unsupportedWebSocketTarget` is the upgrader's word for a refusal of ours, whose answer is already chosen.
        if error == .invalidUpgradeHeader, decision.value == nil {
            decision.value = .refuse(
                PlainTextError(.badRequest, "invalid websocket upgrade: it needs one Sec-WebSocket-Key and Sec-WebSocket-Version: 13"))
        }
    }
}
