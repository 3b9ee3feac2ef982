import BridgeCore
import Foundation
import TestSupport
import Testing

/// The bridge's outbox under random sequences of enqueue, send, retry, abandon, time passing and drain, from fixed
/// seeds (issue #16): every accepted event leaves exactly once, sent, given up (abandoned or expired, so its
/// publisher is told) or drained; events are sent in the order they were accepted; count and bytes stay within the
/// caps, and a refusal is said at once.
@Suite("Outbox properties")
struct OutboxPropertyTests {
    @Test("Random sequences lose nothing, duplicate nothing, keep order and bounds", arguments: 0..<50)
    func randomSequences(seed: Int) {
        var random = SplitMix64(seed: UInt64(seed) &+ 0xB0B)
        var outbox = Outbox<Int>(capacity: 8, maxBytes: 1000, maxWait: 5)
        var now = Date(timeIntervalSince1970: 0)
        var accepted: [Int] = []
        var held: [Int: Int] = [:]  // item → bytes, while in the outbox
        var left: [Int: String] = [:]  // item → how it left
        var sent: [Int] = []
        var refused = 0

        func leave(_ item: Int, _ how: String) {
            #expect(left[item] == nil, "seed \(seed): \(item) left twice (\(left[item] ?? "") and \(how))")
            #expect(held[item] != nil, "seed \(seed): \(item) left but was not held")
            left[item] = how
            held[item] = nil
        }

        var nextItem = 0
        var inFlight: Int?
        for _ in 0..<400 {
            switch random.next(upTo: 9) {
            case 0, 1, 2:
                let bytes = random.next(upTo: 4) == 0 ? random.next(upTo: 400) : 0
                let item = nextItem
                nextItem += 1
                let wasFull = outbox.count >= outbox.capacity || !outbox.hasRoom(forBytes: bytes)
                if outbox.enqueue(item, bytes: bytes, now: now) {
                    #expect(!wasFull)
                    accepted.append(item)
                    held[item] = bytes
                } else {
                    #expect(wasFull, "seed \(seed): \(item) refused with room")
                    refused += 1
                }
            case 3, 4:
                if let item = outbox.next() {
                    #expect(inFlight == nil)
                    inFlight = item
                }
            case 5:
                if let item = inFlight {
                    outbox.sent()
                    leave(item, "sent")
                    sent.append(item)
                    inFlight = nil
                }
            case 6:
                if inFlight != nil {
                    outbox.retry()
                    inFlight = nil
                }
            case 7:
                now = now.addingTimeInterval(Double(random.next(upTo: 3)))
                for item in outbox.expired(now: now) { leave(item, "expired") }
                if random.next(upTo: 10) == 0, let item = outbox.abandon() {
                    leave(item, "abandoned")
                    inFlight = nil
                }
            default:
                if random.next(upTo: 20) == 0 {
                    for item in outbox.drain() { leave(item, "drained") }
                    inFlight = nil
                }
            }
            #expect(outbox.count == held.count, "seed \(seed): the outbox counts \(outbox.count), holds \(held.count)")
            #expect(outbox.count <= outbox.capacity)
            #expect(outbox.bytes == held.values.reduce(0, +) && outbox.bytes <= outbox.maxBytes)
        }
        for item in outbox.drain() { leave(item, "drained") }
        // Nothing lost: each accepted event left exactly once; sends kept the order of acceptance.
        #expect(Set(left.keys) == Set(accepted), "seed \(seed): accepted events that never left")
        #expect(sent == sent.sorted(), "seed \(seed): sent out of order")
        #expect(sent.count > 10 && refused + left.values.filter { $0 != "sent" }.count > 0, "seed \(seed): the run exercised too little")
    }
}
