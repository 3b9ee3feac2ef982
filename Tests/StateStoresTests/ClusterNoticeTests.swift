import FHIRcastCore
import Foundation
import Testing

@testable import StateStores

@Suite("Cluster notices")
struct ClusterNoticeTests {
    static func event(_ id: String, note: String = "") -> String {
        let event = EventNotification(
            timestamp: "2026-01-01T00:00:00Z", id: id,
            event: Event(topic: "t\"1", name: "Patient-open", context: [["key": "patient", "resource": ["resourceType": "Patient", "id": .string(note)]]]))
        return String(decoding: try! JSONEncoder().encode(event), as: UTF8.self)
    }

    @Test("A notice carries its events as written when they fit, and reads back to the same events, numbers and topic (quotes escaped)")
    func inline() throws {
        let payload = try ClusterNotice.payload(origin: "node-a", topic: "t\"1", numbers: [4, 5], bodies: [Self.event("e4"), Self.event("e5")])
        let notice = try #require(ClusterNotice.read(payload))
        #expect(notice.o == "node-a")
        #expect(notice.t == "t\"1")
        #expect(notice.n.map(\.s) == [4, 5])
        #expect(notice.n.map { $0.e?.id } == ["e4", "e5"])
    }

    @Test("Events that do not fit in PostgreSQL's 8,000 bytes go by number only; a notice whose numbers alone do not fit is refused")
    func byReference() throws {
        let big = Self.event("big", note: String(repeating: "x", count: 9_000))
        let payload = try ClusterNotice.payload(origin: "node-a", topic: "t", numbers: [7], bodies: [big])
        #expect(payload.utf8.count <= ClusterNotice.maxPayloadBytes)
        let notice = try #require(ClusterNotice.read(payload))
        #expect(notice.n.map(\.s) == [7])
        #expect(notice.n.first?.e == nil)
        let many = Array(Int64(1)...Int64(2_000))
        #expect(throws: StoreError.self) {
            try ClusterNotice.payload(origin: "node-a", topic: "t", numbers: many, bodies: many.map { _ in big })
        }
    }
}

@Suite("Recent numbers")
struct RecentNumbersTests {
    @Test("A number is new once; the oldest is forgotten past the capacity, so memory stays bounded")
    func bounded() {
        var recent = RecentNumbers(capacity: 3)
        let firsts = [recent.insert(1), recent.insert(2), recent.insert(3)]
        #expect(firsts == [true, true, true])
        let again = recent.insert(2)
        #expect(!again)
        let fourth = recent.insert(4)  // 1 forgotten
        #expect(fourth)
        #expect(!recent.contains(1) && recent.contains(4))
        #expect(recent.count == 3)
        let oneAgain = recent.insert(1)
        #expect(oneAgain)
    }
}
