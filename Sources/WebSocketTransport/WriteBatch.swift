import NIOCore
import NIOWebSocket
import Synchronization

/// Frames for many sockets, written with one task per event loop rather than one per socket.
package struct WriteBatch: ~Copyable {
    private var loops: [ObjectIdentifier: (loop: any EventLoop, writes: [(NIOLoopBound<SocketSession>, ByteBuffer)])] = [:]

    package init() {}

    /// Adds one frame for one socket.
    package mutating func add(_ path: DirectPath, _ message: TextMessage) {
        let key = ObjectIdentifier(path.eventLoop)
        loops[key, default: (path.eventLoop, [])].writes.append((path.session, message.frame))
    }

    package consuming func submit() {
        for (_, entry) in loops {
            let writes = entry.writes
            entry.loop.execute {
                for (session, frame) in writes { session.value.write(frame: frame) }
            }
        }
    }
}
