import NIOCore
import NIOWebSocket
import Synchronization

/// What a websocket peer said when it closed: the status code of its close frame, if it sent one.
///
/// The WebSocket library answers close frames itself and does not hand their code to the handler; FHIRcast
/// needs it (no SyncError for 1000/1001, C24/C33), so a pass-through handler after the frame decoder records it.
final class CloseCodeBox: Sendable {
    private let state = Mutex<(received: Bool, code: Int?)>((false, nil))

    func record(_ code: Int?) { state.withLock { $0 = (true, code) } }

    /// nil: the peer vanished without a close frame. `.some(nil)`: a close frame without a status code.
    var closeFrame: Int?? {
        state.withLock { $0.received ? .some($0.code) : nil }
    }
}

private final class CloseCodeObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    let box: CloseCodeBox

    init(box: CloseCodeBox) { self.box = box }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.opcode == .connectionClose {
            var payload = frame.unmaskedData
            box.record(payload.readInteger(as: UInt16.self).map(Int.init))
        }
        context.fireChannelRead(data)
    }
}

extension CloseCodeBox {
    /// Inserts an observer right after the WebSocket frame decoder of an upgraded channel.
    static func install(on channel: any Channel) async -> CloseCodeBox {
        let box = CloseCodeBox()
        try? await channel.eventLoop.submit {
            let ops = channel.pipeline.syncOperations
            let decoder = try ops.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try ops.addHandler(CloseCodeObserver(box: box), position: .after(decoder))
        }.get()
        return box
    }
}
