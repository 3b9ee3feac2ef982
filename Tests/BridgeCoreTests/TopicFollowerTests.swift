import BridgeCore
import Testing

/// The per-topic subscriptions on a generation B hub (issue #21, item 5), step by step.
@Suite("Topic follower")
struct TopicFollowerTests {
    @Test("Opens one wanted topic at a time, closes unwanted ones first, and is idle when the held set matches")
    func steps() {
        var f = TopicFollower()
        #expect(f.next() == .idle)
        f.want(["a"])
        #expect(f.next() == .open(topic: "a", socket: 1))
        // One open at a time: nothing more until it is reported.
        #expect(f.next() == .idle)
        f.opened("a", socket: 1)
        #expect(f.next() == .idle)
        f.want(["b"])
        #expect(f.next() == .close(topic: "a", socket: 1))
        #expect(f.next() == .open(topic: "b", socket: 2))
        f.opened("b", socket: 2)
        #expect(f.held == ["b": 2])
        #expect(f.next() == .idle)
    }

    @Test("A topic dropped while its open was under way is closed at the next step")
    func droppedWhileOpening() {
        var f = TopicFollower()
        f.want(["a"])
        #expect(f.next() == .open(topic: "a", socket: 1))
        f.want([])
        f.opened("a", socket: 1)
        #expect(f.next() == .close(topic: "a", socket: 1))
        #expect(f.next() == .idle)
    }

    @Test("A refused topic is not tried again until it leaves the wanted set and returns, or a new connection starts")
    func refused() {
        var f = TopicFollower()
        f.want(["bad"])
        #expect(f.next() == .open(topic: "bad", socket: 1))
        f.refused("bad")
        #expect(f.next() == .idle)
        f.want(["bad", "good"])
        #expect(f.next() == .open(topic: "good", socket: 2))
        f.opened("good", socket: 2)
        #expect(f.next() == .idle)
        f.want(["good"])
        f.want(["good", "bad"])
        #expect(f.next() == .open(topic: "bad", socket: 3))
        f.refused("bad")
        // A new connection: nothing held, every wanted topic opened again, the refused one included.
        f.reset()
        #expect(f.held.isEmpty)
        var opened: Set<String> = []
        while case .open(let topic, let socket) = f.next() {
            f.opened(topic, socket: socket)
            opened.insert(topic)
        }
        #expect(opened == ["good", "bad"])
    }

    @Test("A held socket that ends unasked breaks the link; one the follower closed itself does not")
    func ended() {
        var f = TopicFollower()
        f.want(["a", "b"])
        for _ in 0..<2 {
            guard case .open(let topic, let socket) = f.next() else { Issue.record("expected an open"); return }
            f.opened(topic, socket: socket)
        }
        f.want(["a"])
        guard case .close(_, let closed) = f.next() else { Issue.record("expected a close"); return }
        let closedEnded = f.ended(socket: closed)
        #expect(!closedEnded)
        let heldEnded = f.ended(socket: f.held["a"] ?? -1)
        #expect(heldEnded)
        #expect(f.held.isEmpty)
        let unknownEnded = f.ended(socket: 99)
        #expect(!unknownEnded)
    }
}
