import CastbridgeServer
import FHIRcastCore
import Foundation
import NIOHTTP1
import StateStores
import Synchronization
import Testing

/// The store unreachable (issue #16's drill, Docs/reliability.md): a real PostgreSQL behind a gate that is shut for
/// 10 seconds under a cluster of two nodes, as when the database's host or the network to it goes away.
@Suite("Store outage drill (live)", .enabled(if: TestPostgres.enabled, "set CASTBRIDGE_TEST_POSTGRES (scripts/test-postgres.sh start)"))
struct StoreOutageDrillTests {
    static let outage = Duration.seconds(10)

    /// One request's status and how long its answer took.
    struct Answer: Sendable {
        var status: Int
        var took: Duration
        var body: String
    }

    /// The answers of the publishes made during the outage, by event id.
    final class Answers: Sendable {
        let all = Mutex<[String: Answer]>([:])
    }

    static func timed(_ request: () async throws -> TestServer.HTTPResult) async throws -> Answer {
        let started = ContinuousClock.now
        let r = try await request()
        return Answer(status: r.status, took: ContinuousClock.now - started, body: r.body)
    }

    /// The event ids a socket gets until nothing more comes for `quiet` after `until` came (within `within`), or
    /// at all when `until` is nil (acknowledged if `ack`), and how it ended if it did.
    static func drain(
        _ socket: TestSocket, until awaited: String? = nil, within: Duration = .seconds(20), quiet: Duration, ack: Bool = false
    ) async -> (ids: [String], ended: String?) {
        var ids: [String] = []
        let deadline = ContinuousClock.now + within
        while true {
            let waiting = awaited.map { !ids.contains($0) } ?? false
            let timeout = waiting ? max(deadline - ContinuousClock.now, .milliseconds(1)) : quiet
            switch await socket.next(timeout: timeout) {
            case .text(let text)?:
                guard let id = (try? JSONValue.parse(Data(text.utf8)))?["id"]?.stringValue else { continue }
                ids.append(id)
                if ack { socket.ack(id) }
            case .opened?: continue
            case nil: return (ids, nil)
            case let other?: return (ids, "\(other)")
            }
        }
    }

    static func castEvent(topic: String, id: String) -> JSONValue {
        ["timestamp": "2026-01-08T01:37:05.140Z", "id": .string(id), "subscriber.name": "Publisher",
         "event": ["hub.topic": .string(topic), "hub.event": "patient-open", "context": [["key": "patient", "resource": ["resourceType": "Patient", "id": .string(id)]]]]]
    }

    @Test("PostgreSQL unreachable for 10 s under two nodes: every FHIRcast and Cast publish meanwhile is answered 503 with the reason within the store's timeout, and none of it happens (no delivery then or later, the context and versionId as before, no row written); /health/ready 503 and /health/live 200 meanwhile; when PostgreSQL is back (for one node 3 s before the other) both nodes serve again by themselves, neither takes the other for gone, and the next events reach the other node's subscribers once")
    func postgresUnreachable() async throws {
        try await TestPostgres.withDatabase { direct in
            // Each node reaches the database through a gate of its own, so that the database comes back for one
            // node before the other, as it does for real.
            let gates = (a: try await TCPGate.start(backend: direct.port), b: try await TCPGate.start(backend: direct.port))
            var (addressA, addressB) = (direct, direct)
            addressA.port = gates.a.port
            addressB.port = gates.b.port
            try await TestServer.with(ClusterTests.onPostgres(addressA)) { a in
                try await TestServer.with(ClusterTests.onPostgres(addressB)) { b in
                    let (fhircast, _, _) = try await b.subscriber(topic: "out", events: "Patient-open")
                    let (cast, _) = try await b.castSubscriber(topic: "out", events: "patient-open", name: "Viewer")
                    #expect(try await a.publish(Events.patientOpen(topic: "out", patient: "before", id: "before")).status == 200)
                    #expect(try await a.castPost(Self.castEvent(topic: "out", id: "cast-before")).status == 200)
                    let fhircastBefore = await Self.drain(fhircast, quiet: .seconds(1), ack: true)
                    let castBefore = await Self.drain(cast, quiet: .seconds(1))
                    #expect(fhircastBefore.ids == ["before"] && fhircastBefore.ended == nil, "\(fhircastBefore)")
                    #expect(castBefore.ids.contains("cast-before") && castBefore.ended == nil, "\(castBefore)")
                    let contextBefore = try await a.get("/fhircast/STU3/out").json
                    #expect(contextBefore?["context.versionId"] != nil)

                    // The database goes away: connections cut, new ones refused, for 10 s.
                    gates.a.shut()
                    gates.b.shut()
                    let cutAt = ContinuousClock.now
                    let answers = Answers()
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for (name, node) in [("A", a), ("B", b)] {
                            group.addTask {
                                var i = 0
                                while ContinuousClock.now - cutAt < Self.outage - .seconds(1) {
                                    let id = "during-\(name)-\(i)"
                                    let fhir = try await Self.timed { try await node.publish(Events.patientOpen(topic: "out", patient: id, id: id)) }
                                    let castAnswer = try await Self.timed { try await node.castPost(Self.castEvent(topic: "out", id: "cast-\(id)")) }
                                    answers.all.withLock { $0[id] = fhir; $0["cast-\(id)"] = castAnswer }
                                    i += 1
                                }
                            }
                        }
                        group.addTask {
                            try await Task.sleep(for: .seconds(1))
                            #expect(try await a.get("/health/ready").status == 503)
                            #expect(try await a.get("/health/live").status == 200)
                        }
                        try await group.waitForAll()
                    }
                    let during = answers.all.withLock { $0 }
                    #expect(during.count >= 4)
                    for (id, answer) in during.sorted(by: { $0.key < $1.key }) {
                        #expect(answer.status == 503, "\(id) was answered \(answer.status): \(answer.body)")
                        #expect(answer.took < .seconds(8), "\(id) took \(answer.took) to be answered")
                        #expect(answer.body.contains("store") || answer.body.contains("PostgreSQL"), "\(id)'s 503 does not say why: \(answer.body)")
                    }
                    try await Task.sleep(until: cutAt + Self.outage, clock: .continuous)

                    // The database is back for A, and 3 s later for B: the nodes serve again without being told.
                    // Both fell silent together, so A must not take B for gone (that would remove B's Cast
                    // subscriptions and close its sockets) while B is still coming back.
                    gates.a.open(to: direct.port)
                    try await Task.sleep(for: .seconds(3))
                    gates.b.open(to: direct.port)
                    let backAt = ContinuousClock.now
                    #expect(try await a.get("/fhircast/STU3/out").json == contextBefore)
                    #expect(try await b.get("/fhircast/STU3/out").json == contextBefore)
                    // Ready again by itself within the connection pool's backoff (PostgresNIO's grows to 60 s; after a
                    // 10-second outage it is a few seconds).
                    for node in [a, b] {
                        var ready = 0
                        while ready != 200, ContinuousClock.now - backAt < .seconds(30) {
                            ready = try await node.get("/health/ready").status
                            if ready != 200 { try await Task.sleep(for: .milliseconds(200)) }
                        }
                        #expect(ready == 200, "a node was not ready again within 30 s of the database's return")
                    }
                    var status = 0
                    while status != 200, ContinuousClock.now - backAt < .seconds(30) {
                        status = try await a.publish(Events.patientOpen(topic: "out", patient: "after", id: "after")).status
                        if status != 200 { try await Task.sleep(for: .milliseconds(200)) }
                    }
                    #expect(status == 200, "the node did not serve again within 30 s of the database's return")
                    var castStatus = 0
                    while castStatus != 200, ContinuousClock.now - backAt < .seconds(30) {
                        castStatus = try await a.castPost(Self.castEvent(topic: "out", id: "cast-after")).status
                        if castStatus != 200 { try await Task.sleep(for: .milliseconds(200)) }
                    }
                    #expect(castStatus == 200)

                    // Nothing of what was refused happened: the subscribers get the next events and only them, once.
                    let fhircastAfter = await Self.drain(fhircast, until: "after", quiet: .seconds(1), ack: true)
                    #expect(fhircastAfter.ids == ["after"] && fhircastAfter.ended == nil, "\(fhircastAfter)")
                    // The Cast app may also get FHIRcast's events through the bridge; never a refused one, none twice.
                    let castAfter = await Self.drain(cast, until: "cast-after", quiet: .seconds(1))
                    #expect(!castAfter.ids.contains { $0.contains("during") }, "refused events delivered: \(castAfter)")
                    #expect(castAfter.ids.contains("cast-after") && Set(castAfter.ids).count == castAfter.ids.count && castAfter.ended == nil, "\(castAfter)")
                    // Two heartbeats later B's Cast app is still subscribed.
                    try await Task.sleep(for: .seconds(5))
                    #expect(try await a.castPost(Self.castEvent(topic: "out", id: "cast-later")).status == 200)
                    let castLater = await Self.drain(cast, until: "cast-later", within: .seconds(5), quiet: .milliseconds(500))
                    #expect(castLater.ids == ["cast-later"] && castLater.ended == nil, "\(castLater)")
                    #expect(try await TestPostgres.run(direct, "SELECT 1 FROM fhircast_events WHERE event LIKE '%during-%'") == 0)
                    #expect(try await TestPostgres.run(direct, "SELECT 1 FROM cast_messages WHERE body LIKE '%during-%'") == 0)
                    #expect(try await a.get("/health/ready").status == 200)
                    #expect(try await b.get("/health/ready").status == 200)
                    fhircast.close()
                    cast.close()
                }
            }
            await gates.a.stop()
            await gates.b.stop()
        }
    }
}
