import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Keep-alive HTTP/1.1 connections for publishing, on NIO's HTTP codec: one request at a time per connection, a
/// connection per concurrent publisher. The latency of a publish is the server's plus this thin client's (a general
/// purpose client with its pool and state machines added about as much as the server spends on an event at N = 1).
final class PublishClient: Sendable {
    private let host: String
    private let port: Int
    private let idle = Mutex<[any Channel]>([])

    init(base: String) throws {
        guard let parts = URLComponents(string: base), let host = parts.host else { throw BenchError("not a URL: \(base)") }
        self.host = host
        self.port = parts.port ?? 80
    }

    /// POSTs `body` to `path`; returns the status and the body.
    func post(_ path: String, body: String, contentType: String) async throws -> (status: Int, body: String) {
        let channel = try await checkOut()
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        head.headers.add(name: "Content-Type", value: contentType)
        head.headers.add(name: "Content-Length", value: String(body.utf8.count))
        let promise = channel.eventLoop.makePromise(of: Answer.self)
        channel.writeAndFlush(Exchange(head: head, body: ByteBuffer(string: body), answer: promise), promise: nil)
        let answer = try await promise.futureResult.get()
        idle.withLock { $0.append(channel) }
        return (Int(answer.status.code), String(buffer: answer.body))
    }

    func close() {
        for channel in idle.withLock({ all in defer { all = [] }; return all }) { channel.close(promise: nil) }
    }

    private func checkOut() async throws -> any Channel {
        if let channel = idle.withLock({ $0.popLast() }), channel.isActive { return channel }
        return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ExchangeHandler())
                }
            }
            .connect(host: host, port: port).get()
    }
}

private struct Answer: Sendable {
    var status: HTTPResponseStatus
    var body: ByteBuffer
}

private struct Exchange: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer
    var answer: EventLoopPromise<Answer>
}

/// Writes a request and completes its promise with the response; a connection that ends fails what is pending.
private final class ExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Exchange
    typealias OutboundOut = HTTPClientRequestPart

    private var pending = CircularBuffer<EventLoopPromise<Answer>>()
    private var response: Answer?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        pending.append(exchange.answer)
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(exchange.body))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            response = Answer(status: head.status, body: context.channel.allocator.buffer(capacity: 0))
        case .body(var bytes):
            response?.body.writeBuffer(&bytes)
        case .end:
            if let response, let promise = pending.popFirst() { promise.succeed(response) }
            response = nil
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        while let promise = pending.popFirst() { promise.fail(BenchError("the server closed a publishing connection")) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        while let promise = pending.popFirst() { promise.fail(error) }
        context.close(promise: nil)
    }
}
