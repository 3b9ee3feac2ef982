import FHIRcastCore
import FHIRcastService
import Foundation
import Logging
import ServiceLifecycle
import SQLiteNIO

/// The FHIRcast hub's state in an SQLite file: the store of one node, and `castbridge serve`'s default.
///
/// The file is opened in WAL mode with `synchronous=NORMAL`: a commit survives the process being killed (SIGKILL
/// included); a power cut may lose the last commits but never corrupts the file. A lock file beside it
/// (`ProcessLock`) refuses a second castbridge on the same file at start, while backup tools may still read it.
package actor SQLiteHubStore: HubStore {
    private let path: String
    private let logger: Logger
    private var connection: SQLiteConnection?
    private var lock: ProcessLock?
    private var opening: Task<SQLiteConnection, any Error>?
    /// The operation last started: each waits for the one before, so that a transaction (the hub's batch, a batch of
    /// audit records) never has another operation's statements run inside it on the one connection.
    private var last: Task<Void, Never>?

    package init(path: String, logger: Logger) {
        self.path = path
        self.logger = logger
    }

    package nonisolated var keepsState: Bool { true }
    package nonisolated var deliversAfterWrite: Bool { false }

    /// Runs `body` once every operation started before it has finished.
    func exclusively<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        let db = try await open()
        let previous = last
        let task = Task {
            await previous?.value
            return try await body(db)
        }
        last = Task { _ = try? await task.value }
        return try await task.value
    }

    package func load() async throws -> HubRecords {
        try await exclusively { db in
            var records = HubRecords()
            let decoder = JSONDecoder()
            for row in try await db.query("SELECT topic, context FROM fhircast_topics") {
                guard let topic = row.column("topic")?.string, let json = row.column("context")?.string else { continue }
                records.topics[topic] = try decoder.decode(TopicContext.self, from: Data(json.utf8))
            }
            for row in try await db.query("SELECT subscription FROM fhircast_webhooks") {
                guard let json = row.column("subscription")?.string else { continue }
                let sub = try decoder.decode(Subscription.self, from: Data(json.utf8))
                records.subscriptions[sub.id] = sub
            }
            return records
        }
    }

    package func ping() async throws {
        try await exclusively { db in _ = try await db.query("SELECT 1") }
    }

    package func commit(_ changes: HubChanges) async throws -> HubCommit {
        let statements = try SQLiteStatements.writing(changes)
        try await exclusively { db in
            if statements.count == 1, let only = statements.first {
                _ = try await db.query(only.sql, only.binds)
                return
            }
            _ = try await db.query("BEGIN IMMEDIATE")
            do {
                for statement in statements { _ = try await db.query(statement.sql, statement.binds) }
                _ = try await db.query("COMMIT")
            } catch {
                _ = try? await db.query("ROLLBACK")
                throw error
            }
        }
        return .written
    }

    /// Closes the file once the operations already started have finished (an audit batch may still be writing when the
    /// hub stops). An operation after this opens it again; the store's own service closes it for good at the end.
    package func close() async {
        await last?.value
        guard let connection else { return }
        self.connection = nil
        opening = nil
        await Self.closeRegardless(connection)
        lock = nil
    }

    /// Closes a connection even when the caller has been cancelled (a shutdown past its grace period cancels the
    /// hub's task): sqlite-nio's close runs on its thread pool only for a task that is not cancelled, and a connection
    /// left open keeps the file's handle (and stops a debug build at its deinit).
    static func closeRegardless(_ db: SQLiteConnection) async {
        await Task { try? await db.close() }.value
    }

    /// The connection, opened by the first caller; callers that come while it opens wait for the same opening (two
    /// openings would take the lock twice, and the second would find it held).
    func open() async throws -> SQLiteConnection {
        if let connection { return connection }
        if let opening { return try await opening.value }
        let task = Task { try await self.openOnce() }
        opening = task
        do {
            return try await task.value
        } catch {
            opening = nil
            throw error
        }
    }

    /// Opens the file (creating its folder, readable by this user only), takes its lock, and brings its schema to
    /// this version.
    private func openOnce() async throws -> SQLiteConnection {
        if let connection { return connection }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StoreError("cannot create the store's folder \(folder): \(error.localizedDescription)")
        }
        let lock = try ProcessLock(path: path + ".lock")
        // Created readable by this user only before SQLite opens it: its journal files take the same mode, and they
        // hold webhook secrets too.
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        let db: SQLiteConnection
        do {
            db = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        } catch {
            throw StoreError("cannot open the SQLite store \(path): \(error)")
        }
        do {
            // A backup tool reading the file may hold its lock for a moment.
            _ = try await db.query("PRAGMA busy_timeout = 2000")
            _ = try await db.query("PRAGMA journal_mode = WAL")
            _ = try await db.query("PRAGMA synchronous = NORMAL")
        } catch {
            await Self.closeRegardless(db)
            throw StoreError("cannot set up the SQLite store \(path): \(error)")
        }
        do {
            try await SQLiteSchema.migrate(db, logger: logger)
        } catch {
            await Self.closeRegardless(db)
            throw error
        }
        connection = db
        self.lock = lock
        logger.info("SQLite store open", metadata: ["path": "\(path)", "schema": "\(SQLiteSchema.version)"])
        return db
    }
}

/// As a service, started before every user of the file and stopped after them all: the file is closed last, after the
/// audit's final records (the hub closes it when it stops, and a later write opens it again).
extension SQLiteHubStore: Service {
    package func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}
