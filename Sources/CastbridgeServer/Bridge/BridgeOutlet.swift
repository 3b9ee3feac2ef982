import BridgeCore
import FHIRcastCore
import Foundation
import Synchronization

/// An accepted FHIRcast event on its way to Cast, already translated.
struct OutboundItem: Sendable {
    var notification: EventNotification
    /// The publisher's `subscriber.name`, when its request carried one (who gets a SyncError if it fails).
    var publisher: String?
    var envelope: JSONValue
    /// For a binary event: its files, sent as a multipart/related batch.
    var files: [OutgoingFile] = []
}

/// Where the FHIRcast hub hands accepted events to the bridge: the bounded, ordered outbox, filled inside the
/// hub's publish (so order is the order of acceptance and a full queue is known at once) and drained by the
/// bridge's sender.
final class BridgeOutlet: Sendable {
    enum Offer: Equatable {
        case queued
        /// The mapping sends this event nowhere on the Cast side.
        case notBridged
        /// The queue is full: the caller rejects the event.
        case full
    }

    let translator: Translator
    private let box: Mutex<Outbox<OutboundItem>>
    /// One pending wake-up at most: the sender drains everything each time it wakes.
    let wakes: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(translator: Translator, capacity: Int, maxBytes: Int = .max, maxWait: Double) {
        self.translator = translator
        self.box = Mutex(Outbox(capacity: capacity, maxBytes: maxBytes, maxWait: maxWait))
        (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    var capacity: Int { box.withLock { $0.capacity } }
    var count: Int { box.withLock { $0.count } }
    var overflowed: Int { box.withLock { $0.overflowed } }
    var maxBytes: Int { box.withLock { $0.maxBytes } }
    /// Bytes of file contents the waiting events hold.
    var bytes: Int { box.withLock { $0.bytes } }
    /// Whether files of this many bytes fit now. Only the hub adds to the queue, so room seen here is still
    /// there when it offers the event (the sender only ever frees room).
    func hasRoom(forBytes n: Int) -> Bool { box.withLock { $0.hasRoom(forBytes: n) } }

    func offer(_ notification: EventNotification, publisher: String?, files: [OutgoingFile] = []) -> Offer {
        guard let envelope = translator.castEnvelope(for: notification, files: files) else { return .notBridged }
        let item = OutboundItem(notification: notification, publisher: publisher, envelope: envelope, files: files)
        let bytes = files.reduce(0) { $0 + ($1.byteLength ?? 0) }
        guard box.withLock({ $0.enqueue(item, bytes: bytes, now: Date()) }) else { return .full }
        wake.yield()
        return .queued
    }

    func wakeUp() { wake.yield() }
    func finish() { wake.finish() }

    func next() -> OutboundItem? { box.withLock { $0.next() } }
    func sent() { box.withLock { $0.sent() } }
    func retry() { box.withLock { $0.retry() } }
    func abandon() -> OutboundItem? { box.withLock { $0.abandon() } }
    func expired(now: Date) -> [OutboundItem] { box.withLock { $0.expired(now: now) } }
    func drain() -> [OutboundItem] { box.withLock { $0.drain() } }
}
