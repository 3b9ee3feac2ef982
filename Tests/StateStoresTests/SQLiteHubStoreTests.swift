@testable import FHIRcastCore
import FHIRcastService
import Foundation
import Logging
import SQLiteNIO
import StateStores
import AccessCore
import Testing

@testable import StateStores

/// The SQLite store on real files in a temporary folder.
@Suite("SQLite store")
struct SQLiteHubStoreTests {
    static func withFolder(_ body: (String) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("castbridge-sqlite-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await body(folder)
    }

    static let logger = Logger(label: "test")

    static func records() throws -> (HubChanges, Subscription) {
        var state = HubState(config: HubConfiguration())
        state.tracksChanges = true
        let request = SubscriptionRequest(
            mode: .subscribe, topic: "t", events: ["Patient-open"], channelType: .webhook, leaseSeconds: 600,
            callback: "http://127.0.0.1:9/hook", secret: "s3cret")
        let sub = try state.subscribe(request, flavor: .stu2, now: Date(), newID: SubscriptionID("w")).subscription
        state.verified(sub.id, success: true)
        _ = try state.publish(
            EventNotification(
                timestamp: "2026-01-01T00:00:00Z", id: "e1",
                event: Event(topic: "t", name: "Patient-open", context: [["key": "patient", "resource": ["resourceType": "Patient", "id": "p1"]]])),
            now: Date())
        return (state.takeChanges(), sub)
    }

    @Test("What is written is read back by the next process: the topic's context with its versionId, and the webhook with its secret; the folder and file are this user's only")
    func roundTrip() async throws {
        try await Self.withFolder { folder in
            let path = folder + "/state/castbridge.sqlite"
            let (changes, sub) = try Self.records()
            let first = SQLiteHubStore(path: path, logger: Self.logger)
            #expect(try await first.load().topics.isEmpty)
            try await first.commit(changes)
            await first.close()
            let folderMode = try FileManager.default.attributesOfItem(atPath: folder + "/state")[.posixPermissions] as? Int
            let fileMode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(folderMode == 0o700)
            #expect(fileMode == 0o600)

            let second = SQLiteHubStore(path: path, logger: Self.logger)
            let read = try await second.load()
            #expect(read.topics["t"]?.current?.anchorID == "Patient/p1")
            #expect(read.topics["t"]?.current?.versionId == changes.savedTopics["t"]?.current?.versionId)
            #expect(read.subscriptions[sub.id]?.channel == .webhook(callback: "http://127.0.0.1:9/hook", secret: "s3cret"))
            #expect(read.subscriptions[sub.id]?.state == .active)
            // A batch of several changes is one transaction: the topic forgotten and the subscription ended together.
            var end = HubChanges()
            end.forgottenTopics = ["t"]
            end.endedSubscriptions = [sub.id]
            try await second.commit(end)
            await second.close()
            let third = SQLiteHubStore(path: path, logger: Self.logger)
            let empty = try await third.load()
            #expect(empty.topics.isEmpty && empty.subscriptions.isEmpty)
            await third.close()
        }
    }

    @Test("A second castbridge on the same file is refused at start, saying the file is in use; a reader (a backup) is not; once the first closes, the second opens")
    func exclusive() async throws {
        try await Self.withFolder { folder in
            let path = folder + "/castbridge.sqlite"
            let first = SQLiteHubStore(path: path, logger: Self.logger)
            _ = try await first.load()
            let second = SQLiteHubStore(path: path, logger: Self.logger)
            await #expect {
                _ = try await second.load()
            } throws: { error in
                String(describing: error).contains("in use by another process")
            }
            let reader = try await SQLiteConnection.open(storage: .file(path: path))
            #expect(try await reader.query("SELECT count(*) AS n FROM fhircast_topics").first?.column("n")?.integer == 0)
            try await reader.close()
            await first.close()
            _ = try await second.load()
            await second.close()
        }
    }

    @Test("A file written by a newer castbridge (a higher schema version) is refused, naming both versions; the file is left as it was")
    func newerSchema() async throws {
        try await Self.withFolder { folder in
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let path = folder + "/castbridge.sqlite"
            let raw = try await SQLiteConnection.open(storage: .file(path: path))
            _ = try await raw.query("PRAGMA user_version = 99")
            try await raw.close()
            let store = SQLiteHubStore(path: path, logger: Self.logger)
            await #expect {
                _ = try await store.load()
            } throws: { error in
                let message = String(describing: error)
                return message.contains("version 99") && message.contains("newer castbridge") && message.contains("version \(SQLiteSchema.version)")
            }
            let check = try await SQLiteConnection.open(storage: .file(path: path))
            #expect(try await check.query("PRAGMA user_version").first?.column("user_version")?.integer == 99)
            try await check.close()
        }
    }

    @Test("A file of schema version 1 is migrated to this version at start, its topics kept; audit records are appended and pruned by age")
    func migratesAndAudits() async throws {
        try await Self.withFolder { folder in
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let path = folder + "/castbridge.sqlite"
            let old = try await SQLiteConnection.open(storage: .file(path: path))
            for sql in SQLiteSchema.migrations[0] { _ = try await old.query(sql) }
            _ = try await old.query("INSERT INTO fhircast_topics (topic, context) VALUES ('t', ?)", [.text(String(decoding: try JSONEncoder().encode(TopicContext(now: Date())), as: UTF8.self))])
            _ = try await old.query("PRAGMA user_version = 1")
            try await old.close()
            let store = SQLiteHubStore(path: path, logger: Self.logger)
            #expect(try await store.load().topics.keys.sorted() == ["t"])
            let record = AuditRecord(action: "subscribe", side: .fhircast, status: 202, subject: "s", topic: "t")
            try await store.append([record, record])
            #expect(try await store.latestAudit(limit: 10).count == 2)
            try await store.pruneAudit(before: Date().addingTimeInterval(-60))
            #expect(try await store.latestAudit(limit: 10).count == 2)
            try await store.pruneAudit(before: Date().addingTimeInterval(60))
            #expect(try await store.latestAudit(limit: 10).isEmpty)
            await store.close()
            let check = try await SQLiteConnection.open(storage: .file(path: path))
            #expect(try await check.query("PRAGMA user_version").first?.column("user_version")?.integer == SQLiteSchema.version)
            try await check.close()
        }
    }

    /// This process's descriptors open on `path` (Linux: `/proc/self/fd`).
    static func descriptors(on path: String) -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == path }.count
    }

    @Test("Closed from a task that is already cancelled (a shutdown past its grace period), the store still closes its file")
    func closeWhenCancelled() async throws {
        try await Self.withFolder { folder in
            let path = folder + "/castbridge.sqlite"
            let store = SQLiteHubStore(path: path, logger: Self.logger)
            _ = try await store.load()
            #expect(Self.descriptors(on: path) == 1)
            let closing = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                await store.close()
            }
            await closing.value
            #expect(Self.descriptors(on: path) == 0)
        }
    }

    @Test("Operations that come together at start (the hub's load, the audit's first prune) share one opening of the file: none finds the store's own lock held")
    func concurrentOpen() async throws {
        try await Self.withFolder { folder in
            let store = SQLiteHubStore(path: folder + "/castbridge.sqlite", logger: Self.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<8 {
                    group.addTask {
                        if i % 2 == 0 { _ = try await store.load() } else { try await store.pruneAudit(before: Date()) }
                    }
                }
                try await group.waitForAll()
            }
            await store.close()
        }
    }

    @Test("A path where no folder can be made is refused with the folder's name")
    func unwritable() async throws {
        try await Self.withFolder { folder in
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            _ = FileManager.default.createFile(atPath: folder + "/file", contents: Data())
            let store = SQLiteHubStore(path: folder + "/file/inside/castbridge.sqlite", logger: Self.logger)
            await #expect {
                _ = try await store.load()
            } throws: { error in
                String(describing: error).contains("cannot create the store's folder")
            }
        }
    }
}
