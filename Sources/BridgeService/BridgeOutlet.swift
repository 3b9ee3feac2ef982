import FHIRcastService
import ServiceSupport
import BridgeCore
import FHIRcastCore
import Foundation
import Synchronization

/// An accepted FHIRcast event on its way to Cast, already translated.
package struct OutboundItem: Sendable {
    package var notification: EventNotification
    /// The publisher's `subscriber.name`, when its request carried one (who gets a SyncError if it fails).
    package var publisher: String?
    package var envelope: JSONValue
    /// For a binary event: its files, sent as a multipart/related batch.
    package var files: [OutgoingFile] = []
}

/// Where the FHIRcast hub hands accepted events to the bridge: the bounded, ordered outbox, filled inside the
/// hub's publish (so order is the order of acceptance and a full queue is known at once) and drained by the
/// bridge's sender.
package final class BridgeOutlet: EventOutlet {
    package enum Offer: Equatable {
        case queued
        /// The mapping sends this event nowhere on the Cast side.
        case notBridged
        /// The queue is full: the caller rejects the event.
        case full
    }

    package let translator: Translator
    private let box: Mutex<Outbox<OutboundItem>>
    /// One pending wake-up at most: the sender drains everything each time it wakes.
    package let wakes: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    /// Whether the Cast hub needs one subscription per topic (generation B compares topics literally, so the
    /// bridge's `*` matches nothing there): then the hub reports the topics that exist for FHIRcast apps.
    package let followsTopics: Bool
    private let topicBox = Mutex<Set<String>>([])
    /// One pending wake-up at most: the bridge reads `topics` each time it wakes.
    package let topicWakes: AsyncStream<Void>
    private let topicWake: AsyncStream<Void>.Continuation

    package init(translator: Translator, capacity: Int, maxBytes: Int = .max, maxWait: Double, followsTopics: Bool = false) {
        self.translator = translator
        self.box = Mutex(Outbox(capacity: capacity, maxBytes: maxBytes, maxWait: maxWait))
        self.followsTopics = followsTopics
        (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        (topicWakes, topicWake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// The topics that exist for FHIRcast apps: a subscription, or a context the hub keeps (only when `followsTopics`).
    package var topics: Set<String> { topicBox.withLock { $0 } }

    package func setTopics(_ topics: Set<String>) {
        topicBox.withLock { $0 = topics }
        topicWake.yield()
    }

    package var capacity: Int { box.withLock { $0.capacity } }
    package var count: Int { box.withLock { $0.count } }
    package var overflowed: Int { box.withLock { $0.overflowed } }
    /// Bytes of file contents the waiting events hold.
    package var bytes: Int { box.withLock { $0.bytes } }

    /// Backpressure on file contents: files that can never fit the byte budget are a 413; files that do not fit
    /// now, behind the events still waiting, a 503 with `Retry-After`. The hub asks before it accepts an event, so
    /// nothing is published and the publisher can send the same event again without any subscriber seeing it twice.
    /// Only the hub adds to the queue, so room seen here is still there when it offers the event (the sender only
    /// ever frees room).
    package func checkRoom(for files: [OutgoingFile], event: String) throws(HubError) {
        let bytes = files.inlineBytes
        guard bytes > 0 else { return }
        let (held, limit, fits) = box.withLock { ($0.bytes, $0.maxBytes, $0.hasRoom(forBytes: bytes)) }
        guard bytes <= limit else {
            throw .tooLarge(
                "the files of \(event) hold \(bytes) bytes; castbridge queues at most \(limit) bytes of files for the Cast hub (--bridge-queue-max-bytes)")
        }
        guard fits else {
            throw .unavailable(
                "castbridge's queue for the Cast hub already holds \(held) of its \(limit) bytes of files (--bridge-queue-max-bytes); the \(bytes) bytes of \(event) do not fit now: publish it again later",
                retryAfter: 1)
        }
    }

    package func offer(_ notification: EventNotification, publisher: String?, files: [OutgoingFile] = []) -> Offer {
        guard let envelope = translator.castEnvelope(for: notification, files: files) else { return .notBridged }
        let item = OutboundItem(notification: notification, publisher: publisher, envelope: envelope, files: files)
        guard box.withLock({ $0.enqueue(item, bytes: files.inlineBytes, now: Date()) }) else { return .full }
        wake.yield()
        return .queued
    }

    /// The hub's publish of a FHIRcast app's event (`EventOutlet`): binary content bound for Cast is checked first, so
    /// a bad file, or files that do not fit, refuse the whole event before anything is published.
    package func pass(
        _ notification: EventNotification, publisher: String?, accept: () throws(HubError) -> EventNotification?
    ) throws(HubError) -> OutletOutcome {
        let files = try translator.outgoingFiles(for: notification)
        try checkRoom(for: files, event: notification.event.name)
        guard let accepted = try accept() else { return .passed }
        guard offer(accepted, publisher: publisher, files: files) == .full else { return .passed }
        return .refused(
            accepted: accepted,
            reason: "castbridge could not queue \(accepted.event.name) for the Cast hub: \(capacity) events are already waiting for it")
    }

    package func wakeUp() { wake.yield() }
    /// Asks the bridge to pass `topics` on again (a new link holds none yet).
    package func wakeTopics() { topicWake.yield() }
    package func finish() {
        wake.finish()
        topicWake.finish()
    }

    package func next() -> OutboundItem? { box.withLock { $0.next() } }
    package func sent() { box.withLock { $0.sent() } }
    package func retry() { box.withLock { $0.retry() } }
    package func abandon() -> OutboundItem? { box.withLock { $0.abandon() } }
    package func expired(now: Date) -> [OutboundItem] { box.withLock { $0.expired(now: now) } }
    package func drain() -> [OutboundItem] { box.withLock { $0.drain() } }
}
