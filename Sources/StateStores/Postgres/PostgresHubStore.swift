import CastCore
import FHIRcastCore
import FHIRcastService
import Foundation
import Logging
import NIOSSL
import PostgresNIO
import ServiceLifecycle
import ServiceSupport
import Synchronization

/// The FHIRcast hub's state in PostgreSQL, shared by every castbridge given the same database: together they are one
/// cluster. It is also the cluster's fan-out (`TopicFanOut`): a node writes a topic's context, the topic's accepted
/// events and a `NOTIFY` in one transaction, and every other node, listening, delivers those events to its own
/// subscribers.
///
/// - A topic is written only over the number of events the writer read (`topicBasis`); a node that lost that race
///   gets the stored context back as a conflict and makes its publish again over it (C47 across nodes).
/// - Events stay in `fhircast_events` for `eventRetention`, so that a node that missed a notification (its listening
///   connection dropped, or it saw a gap) fetches them in order.
/// - A node's idle-topic sweep is its own: it does not delete the shared row, which other nodes may still use.
package actor PostgresHubStore: HubStore, TopicFanOut, Service {
    nonisolated let client: PostgresClient
    private let address: PostgresAddress
    /// This process's name in notices: its own are skipped.
    package nonisolated let node = UUID().uuidString
    let logger: Logger
    private let eventRetentionSeconds: Double
    let operationTimeout: Duration
    private nonisolated let events: AsyncStream<SharedEvent>
    private nonisolated let eventSink: AsyncStream<SharedEvent>.Continuation
    private nonisolated let claims: AsyncStream<WebhookHandover>
    private nonisolated let claimSink: AsyncStream<WebhookHandover>.Continuation
    /// How often a node says it is up, and how long after its last word its webhooks are taken over.
    private let heartbeat: Duration
    let presumedGone: TimeInterval
    /// How often a node that waits for a lead tries to take it, and the leader checks it still holds it.
    let leadershipRetry: Duration
    private var migrated = false
    /// Set once the hub has stopped: this node no longer says it is up, nor takes webhooks over.
    private var closed = false
    /// When the last notice came: after a reconnect, events written since then (less a margin) are read again.
    private var lastHeard: Date?
    /// Whether the events channel is listened to: the hub's records are read only once it is, so that no event
    /// written after the read is missed (a node that served before it listened would miss what others wrote).
    var eventsListening = false
    /// The embedded Cast hub's messages as heard (`PostgresHubStore+Cast`).
    nonisolated let castHeard: AsyncStream<CastClusterNote>
    nonisolated let castHeardSink: AsyncStream<CastClusterNote>.Continuation
    /// The SyncErrors other nodes' FHIRcast hubs made, carried on the same channel as the Cast messages.
    nonisolated let syncErrorsHeard: AsyncStream<EventNotification>
    nonisolated let syncErrorsHeardSink: AsyncStream<EventNotification>.Continuation
    /// The WebSocket subscriptions other nodes took unsubscribes for, on the same channel.
    nonisolated let unsubscribesHeard: AsyncStream<SubscriptionID>
    nonisolated let unsubscribesHeardSink: AsyncStream<SubscriptionID>.Continuation
    /// Whether the Cast channel is listened to: the Cast hub's records are read only once it is, so that nothing
    /// written after the read is missed.
    var castListening = false
    /// When the last Cast message came, and the numbers of those heard lately (read again after a reconnect).
    var castLastHeard: Date?
    var castSeen = RecentNumbers(capacity: 50_000)

    static let channel = "castbridge_events"

    package init(
        address: PostgresAddress, logger: Logger, eventRetentionSeconds: Double = 600,
        operationTimeout: Duration = .seconds(5),
        heartbeat: Duration = .seconds(2), presumedGone: TimeInterval = 10, leadershipRetry: Duration = .seconds(1)
    ) {
        self.leadershipRetry = leadershipRetry
        self.address = address
        self.heartbeat = heartbeat
        self.presumedGone = presumedGone
        self.logger = logger
        self.eventRetentionSeconds = eventRetentionSeconds
        self.operationTimeout = operationTimeout
        var configuration = PostgresClient.Configuration(
            host: address.host, port: address.port, username: address.user, password: address.password, database: address.database,
            tls: Self.tls(address.tls))
        configuration.options.connectTimeout = .seconds(3)
        configuration.options.maximumConnections = 10
        // The pool logs each failed connection at info; castbridge reports them itself.
        var poolLogger = logger
        poolLogger.logLevel = max(logger.logLevel, .warning)
        client = PostgresClient(configuration: configuration, backgroundLogger: poolLogger)
        (events, eventSink) = AsyncStream<SharedEvent>.makeStream()
        (claims, claimSink) = AsyncStream<WebhookHandover>.makeStream()
        (castHeard, castHeardSink) = AsyncStream<CastClusterNote>.makeStream()
        (syncErrorsHeard, syncErrorsHeardSink) = AsyncStream<EventNotification>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        (unsubscribesHeard, unsubscribesHeardSink) = AsyncStream<SubscriptionID>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
    }

    static func tls(_ mode: PostgresAddress.TLSMode) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: return .disable
        case .require:
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            return .require(tls)
        case .verifyFull: return .require(.makeClientConfiguration())
        }
    }

    package nonisolated var keepsState: Bool { true }
    package nonisolated var deliversAfterWrite: Bool { true }
    package nonisolated var spansNodes: Bool { true }
    package nonisolated var sharesThroughStore: Bool { true }
    package nonisolated func share(_ event: SharedEvent) {}
    package nonisolated func received() -> AsyncStream<SharedEvent> { events }
    package nonisolated func takenOver() -> AsyncStream<WebhookHandover> { claims }
    package nonisolated func syncErrors() -> AsyncStream<EventNotification> { syncErrorsHeard }
    package nonisolated func unsubscribes() -> AsyncStream<SubscriptionID> { unsubscribesHeard }

    package func shareUnsubscribe(_ id: SubscriptionID) async throws {
        try await ready()
        let query = try Self.clusterMessageQuery(CastWire(o: node, u: id.raw))
        try await bounded("pass an unsubscribe on") { [logger] connection in try await connection.query(query, logger: logger) }
    }

    package func shareSyncError(_ notification: EventNotification) async {
        do {
            try await ready()
            let query = try Self.clusterMessageQuery(CastWire(o: node, s: notification))
            try await bounded("tell the cluster of a SyncError") { [logger] connection in try await connection.query(query, logger: logger) }
        } catch {
            logger.warning("a SyncError could not be told to the other nodes", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Service

    /// Runs the connection pool, the listening connection and the events table's pruning until graceful shutdown
    /// (which reaches the store after the hub: the hub's last writes still go out).
    package func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.listen() }
            group.addTask { await self.listenCast() }
            group.addTask { await self.prune() }
            group.addTask { await self.keepPresent() }
            try? await gracefulShutdown()
            await close()
            group.cancelAll()
        }
        eventSink.finish()
        claimSink.finish()
        castHeardSink.finish()
        syncErrorsHeardSink.finish()
        unsubscribesHeardSink.finish()
    }

    // MARK: HubStore

    package func ping() async throws {
        try await bounded("answer a health check") { [logger] connection in _ = try await connection.query("SELECT 1", logger: logger) }
    }

    package func load() async throws -> HubRecords {
        try await ready()
        try await untilListening({ $0.eventsListening }, "the cluster's events")
        var records = try await bounded("read the hub's state") { [logger] connection in
            var records = HubRecords()
            let decoder = JSONDecoder()
            let topics = try await connection.query("SELECT topic, context FROM fhircast_topics", logger: logger)
            for try await (topic, json) in topics.decode((String, String).self) {
                records.topics[topic] = try decoder.decode(TopicContext.self, from: Data(json.utf8))
            }
            // WebSocket subscriptions stay with the nodes that hold their sockets; a starting node takes the webhooks.
            return records
        }
        // Webhooks: those of nodes that said they stopped (after a restart of every node, all of them), each taken by
        // one node. Those of nodes merely silent are left to the heartbeat, once this node has been heard long enough
        // to judge (`keepPresent`).
        for (sub, _) in try await claimOrphanedWebhooks(PresumedGone(silentFor: presumedGone, judging: false)) { records.subscriptions[sub.id] = sub }
        return records
    }

    package func commit(_ changes: HubChanges) async throws -> HubCommit {
        try await ready()
        let writes = try PostgresWrites(changes, node: node)
        return try await bounded("write a change") { [logger] connection in
            if writes.fitsOneStatement, let topic = writes.topics.first {
                let conflict = try await topic.write { try await connection.query($0, logger: logger) }
                return HubCommit(conflicts: conflict.map { [topic.topic: $0] } ?? [:])
            }
            return try await connection.withTransaction(logger: logger) { connection in
                var conflicts: [String: TopicContext?] = [:]
                for topic in writes.topics {
                    if let stored = try await topic.write({ try await connection.query($0, logger: logger) }) {
                        conflicts[topic.topic] = stored
                    }
                }
                for query in writes.subscriptionQueries { try await connection.query(query, logger: logger) }
                return HubCommit(conflicts: conflicts)
            }
        }
    }

    package func rewrite(topic: String, _ make: @escaping @Sendable (TopicContext?) async throws -> HubChanges) async throws {
        try await ready()
        let node = self.node
        let placeholder = String(decoding: try JSONEncoder().encode(TopicContext(now: Date())), as: UTF8.self)
        try await bounded("write a change made again") { [logger] connection in
            try await connection.withTransaction(logger: logger) { connection in
                // A row to lock even for a topic no node has written yet (number 0: any first write takes it).
                try await connection.query(
                    "INSERT INTO fhircast_topics (topic, seq, context) VALUES (\(topic), 0, \(placeholder)) ON CONFLICT (topic) DO NOTHING",
                    logger: logger)
                var stored: TopicContext?
                let rows = try await connection.query("SELECT seq, context FROM fhircast_topics WHERE topic = \(topic) FOR UPDATE", logger: logger)
                for try await (seq, json) in rows.decode((Int64, String).self) where seq > 0 {
                    stored = try JSONDecoder().decode(TopicContext.self, from: Data(json.utf8))
                }
                let writes = try PostgresWrites(try await make(stored), node: node)
                for write in writes.topics {
                    if try await write.write({ try await connection.query($0, logger: logger) }) != nil {
                        throw StoreError("the topic '\(write.topic)' changed while it was locked")
                    }
                }
                for query in writes.subscriptionQueries { try await connection.query(query, logger: logger) }
            }
        }
    }

    /// The hub has stopped and written its last change: this node is gone at once, so that another takes its
    /// webhooks without waiting for it to be presumed gone. (The connections close with the service.)
    package func close() async {
        guard !closed else { return }
        closed = true
        guard migrated else { return }
        _ = try? await bounded("mark this node as gone") { [logger, node] connection in
            // Presumed gone at once, with the time of its last word kept for the node that takes its webhooks over.
            try await connection.query(
                "UPDATE castbridge_nodes SET seen_at = '-infinity', last_word = now() WHERE node = \(node)", logger: logger)
        }
    }

    // MARK: TopicFanOut

    package func missed(topic: String, after: Int64) async throws -> [SharedEvent]? {
        try await ready()
        let found = try await bounded("read missed events") { [logger] connection in
            try await Self.events(connection, logger: logger, "SELECT seq, event FROM fhircast_events WHERE topic = \(topic) AND seq > \(after) ORDER BY seq")
        }
        guard found.first?.sequence == after + 1 else { return nil }
        return found
    }

    package func storedContext(topic: String) async throws -> TopicContext? {
        try await ready()
        return try await bounded("read a topic") { [logger] connection in
            let rows = try await connection.query("SELECT context FROM fhircast_topics WHERE topic = \(topic)", logger: logger)
            for try await json in rows.decode(String.self) { return try JSONDecoder().decode(TopicContext.self, from: Data(json.utf8)) }
            return nil
        }
    }

    package func topicExists(_ topic: String) async -> Bool {
        do {
            try await ready()
            return try await bounded("look a topic up") { [logger] connection in
                let rows = try await connection.query(
                    """
                    SELECT EXISTS (SELECT 1 FROM fhircast_subscriptions WHERE topic = \(topic) AND expires_at > now())
                        OR EXISTS (SELECT 1 FROM fhircast_topics WHERE topic = \(topic) AND seq > 0)
                    """, logger: logger)
                for try await exists in rows.decode(Bool.self) { return exists }
                return false
            }
        } catch {
            logger.warning("could not ask the cluster whether a topic exists", metadata: ["topic": "\(topic)", "error": "\(error)"])
            return false
        }
    }

    package func subscription(_ id: SubscriptionID) async -> Subscription? {
        do {
            try await ready()
            return try await bounded("look a subscription up") { [logger] connection in
                let rows = try await connection.query(
                    "SELECT subscription FROM fhircast_subscriptions WHERE id = \(id.raw) AND expires_at > now()", logger: logger)
                for try await json in rows.decode(String.self) { return try JSONDecoder().decode(Subscription.self, from: Data(json.utf8)) }
                return nil
            }
        } catch {
            logger.warning("could not ask the cluster for a subscription", metadata: ["error": "\(error)"])
            return nil
        }
    }

    // MARK: Listening

    /// Holds a connection that listens for the other nodes' notices, again with backoff whenever it drops. Once it
    /// listens again, the events written meanwhile are read from the table (the hub skips those it delivered).
    private func listen() async {
        await listen(on: Self.channel, listening: { await $0.listening() }, heard: { await $0.heard($1) })
    }

    /// Listens on `channel` until cancelled, again with backoff whenever the connection drops; `listening` runs each
    /// time it listens (again), before any notice is handled.
    func listen(
        on channel: String, listening: @escaping @Sendable (PostgresHubStore) async -> Void,
        heard: @escaping @Sendable (PostgresHubStore, String) async -> Void
    ) async {
        var backoff = Backoff(base: 0.1, max: 5)
        while !Task.isCancelled {
            let began = ContinuousClock.now
            do {
                try await ready()
                try await client.withConnection { connection in
                    try await connection.listen(on: channel) { notices in
                        await listening(self)
                        for try await notice in notices { await heard(self, notice.payload) }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning(
                    "a listening connection to PostgreSQL ended; listening again", metadata: ["channel": "\(channel)", "error": "\(String(reflecting: error))"])
            }
            if channel == Self.castChannel { castListening = false } else { eventsListening = false }
            if ContinuousClock.now - began > .seconds(10) { backoff.reset() }
            do { try await Task.sleep(for: .seconds(backoff.next(unit: Double.random(in: 0..<1)))) } catch { return }
        }
    }

    private func listening() async {
        defer { eventsListening = true }
        guard let since = lastHeard else {
            lastHeard = Date()
            return
        }
        let from = since.addingTimeInterval(-5)
        do {
            let missed = try await bounded("read events written while not listening") { [logger] connection in
                try await Self.events(
                    connection, logger: logger,
                    "SELECT seq, event FROM fhircast_events WHERE created_at >= \(from) AND origin <> \(self.node) ORDER BY topic, seq")
            }
            logger.info("listening to the cluster again", metadata: ["eventsReadAgain": "\(missed.count)"])
            for event in missed { eventSink.yield(event) }
        } catch {
            logger.warning("could not read the events written while this node was not listening", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    private func heard(_ payload: String) async {
        lastHeard = Date()
        guard let notice = ClusterNotice.read(payload) else {
            logger.warning("a cluster notice castbridge cannot read was skipped", metadata: ["bytes": "\(payload.utf8.count)"])
            return
        }
        guard notice.o != node else { return }
        if notice.n.allSatisfy({ $0.e != nil }) {
            for entry in notice.n { if let event = entry.e { eventSink.yield(SharedEvent(event: event, sequence: entry.s)) } }
            return
        }
        let numbers = notice.n.map(\.s)
        do {
            let fetched = try await bounded("read a notice's events") { [logger] connection in
                try await Self.events(
                    connection, logger: logger, "SELECT seq, event FROM fhircast_events WHERE topic = \(notice.t) AND seq = ANY(\(numbers)) ORDER BY seq")
            }
            for event in fetched { eventSink.yield(event) }
        } catch {
            // The hub sees the gap at the next event of the topic and catches up from the table then.
            logger.warning("could not read the events of a cluster notice", metadata: ["topic": "\(notice.t)", "error": "\(String(reflecting: error))"])
        }
    }

    /// Says every `heartbeat` that this node is up, and takes over the webhooks of nodes that stopped saying so.
    ///
    /// Another node's silence is taken for its end only once this node has itself been heard for `presumedGone`
    /// without a break: when the database was out of reach, every node fell silent at once, and each gets that long
    /// to say it is up again before its webhooks are taken and its sockets' Cast subscriptions removed (the store
    /// outage drill, Docs/reliability.md). A node that said it stopped is taken for gone at once.
    private func keepPresent() async {
        var heardSince: ContinuousClock.Instant?
        while !Task.isCancelled {
            do { try await Task.sleep(for: heartbeat) } catch { return }
            if closed { return }
            do {
                try await ready()  // a node still migrating the schema has nothing to say yet
                try await markPresent()
                let since = heardSince ?? .now
                heardSince = since
                let silence = PresumedGone(silentFor: presumedGone, judging: ContinuousClock.now - since >= .seconds(presumedGone))
                for (sub, lastWord) in try await claimOrphanedWebhooks(silence) {
                    claimSink.yield(WebhookHandover(subscription: sub, missed: await missedDuringHandover(sub, since: lastWord)))
                }
                try await sweepCastSubscriptions(silence)
            } catch {
                heardSince = nil
                logger.warning("could not tell the cluster this node is up", metadata: ["error": "\(error)"])
            }
        }
    }

    private func markPresent() async throws {
        try await bounded("mark this node as up") { [logger, node] connection in
            try await connection.query(
                """
                INSERT INTO castbridge_nodes (node, seen_at, last_word) VALUES (\(node), now(), now())
                ON CONFLICT (node) DO UPDATE SET seen_at = now(), last_word = now()
                """,
                logger: logger)
        }
    }

    /// Webhook subscriptions whose node has not said it is up for `presumedGone`, now this node's (each row is taken
    /// by one node: the update is atomic).
    /// Each with its old node's last word (its last heartbeat, or when it stopped), when that is known.
    private func claimOrphanedWebhooks(_ silence: PresumedGone) async throws -> [(Subscription, Date?)] {
        let gone = silence.seconds
        return try await bounded("take over webhooks") { [logger, node] connection in
            let rows = try await connection.query(
                """
                WITH orphans AS (
                    SELECT s.id, n.last_word FROM fhircast_subscriptions s LEFT JOIN castbridge_nodes n ON n.node = s.node
                    WHERE s.channel = 'webhook' AND s.expires_at > now() AND s.node <> \(node)
                      AND s.node NOT IN (SELECT node FROM castbridge_nodes WHERE seen_at > now() - make_interval(secs => \(gone)))
                    FOR UPDATE OF s SKIP LOCKED)
                UPDATE fhircast_subscriptions s SET node = \(node) FROM orphans o WHERE s.id = o.id
                RETURNING s.subscription, o.last_word
                """, logger: logger)
            var taken: [(Subscription, Date?)] = []
            for try await (json, lastWord) in rows.decode((String, Date?).self) {
                taken.append((try JSONDecoder().decode(Subscription.self, from: Data(json.utf8)), lastWord))
            }
            return taken
        }
    }

    /// The events of a taken-over webhook's topic written since its old node's last word: that node may not have
    /// delivered them (it stopped, or died after its last heartbeat), so the new node does. Those it did deliver in
    /// its last seconds come again: the webhook's app may see an event twice (same id), never miss one.
    private func missedDuringHandover(_ sub: Subscription, since lastWord: Date?) async -> [EventNotification] {
        guard let lastWord else { return [] }
        do {
            return try await bounded("read a taken-over webhook's missed events") { [logger] connection in
                try await Self.events(
                    connection, logger: logger,
                    "SELECT seq, event FROM fhircast_events WHERE topic = \(sub.topic) AND created_at >= \(lastWord) ORDER BY seq")
            }.map(\.event)
        } catch {
            logger.warning("could not read the events a taken-over webhook missed", metadata: ["topic": "\(sub.topic)", "error": "\(error)"])
            return []
        }
    }

    private func prune() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(60)) } catch { return }
            do {
                for query in Self.pruning(eventRetentionSeconds: eventRetentionSeconds) {
                    try await client.query(query, logger: logger)
                }
            } catch {
                logger.warning("could not prune the cluster's tables", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    /// What the pruning deletes, every minute:
    /// - events and Cast messages older than the retention (nodes that missed a notice read them within it);
    /// - Cast payloads and the bridge's links once expired;
    /// - nodes silent for a day (their webhooks and sockets were taken over long ago).
    ///
    /// Not topics: a topic written again after its row was deleted would number its events from 1 again, and a node
    /// still holding the old copy would take them for events it has seen (Docs/deployment.md).
    package static func pruning(eventRetentionSeconds: Double) -> [PostgresQuery] {
        let cutoff = Date().addingTimeInterval(-eventRetentionSeconds)
        return [
            "DELETE FROM fhircast_events WHERE created_at < \(cutoff)",
            "DELETE FROM cast_messages WHERE created_at < \(cutoff)",
            "DELETE FROM cast_payloads WHERE expires_at < now()",
            "DELETE FROM bridge_payload_links WHERE expires_at < now()",
            "DELETE FROM castbridge_nodes WHERE coalesce(last_word, seen_at) < now() - interval '1 day'",
        ]
    }

    // MARK: Helpers

    /// Waits until a channel is listened to (at most `operationTimeout`).
    func untilListening(_ flag: (isolated PostgresHubStore) -> Bool, _ what: String) async throws {
        let deadline = ContinuousClock.now + operationTimeout
        while !flag(self) {
            guard ContinuousClock.now < deadline else { throw StoreError("the PostgreSQL store could not listen for \(what) within \(operationTimeout)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    func ready() async throws {
        guard !migrated else { return }
        try await probe()
        try await bounded("prepare its tables") { [logger] connection in try await PostgresSchema.migrate(connection, logger: logger) }
        migrated = true
        try await markPresent()
    }

    /// One connection of its own, before the pool's: the pool retries quietly, and this gives the reason at once
    /// (refused, unknown host, bad password, no such database).
    private func probe() async throws {
        let tls: PostgresConnection.Configuration.TLS
        switch address.tls {
        case .disable: tls = .disable
        case .require:
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateVerification = .none
            tls = .require(try NIOSSLContext(configuration: configuration))
        case .verifyFull: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(
            host: address.host, port: address.port, username: address.user, password: address.password, database: address.database, tls: tls)
        configuration.options.connectTimeout = .seconds(3)
        let address = self.address
        do {
            let connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: 0, logger: logger
            ).get()
            try? await connection.close()
        } catch let error as PSQLError {
            throw StoreError("cannot connect to PostgreSQL at \(address.host):\(address.port) as \(address.user) to database \(address.database): \(Self.describe(error))")
        }
    }

    private static func events(_ connection: PostgresConnection, logger: Logger, _ query: PostgresQuery) async throws -> [SharedEvent] {
        var found: [SharedEvent] = []
        let decoder = JSONDecoder()
        for try await (seq, json) in try await connection.query(query, logger: logger).decode((Int64, String).self) {
            found.append(SharedEvent(event: try decoder.decode(EventNotification.self, from: Data(json.utf8)), sequence: seq))
        }
        return found
    }

    /// Runs a database operation on a leased connection within `operationTimeout`, and names PostgreSQL and what
    /// failed when it does not succeed (a PostgreSQL error's own text hides its details). The bound holds even for
    /// work that does not stop when cancelled (a connection lease from a pool that cannot connect): the caller gets
    /// its error at the timeout, and the work is cancelled and left to end by itself. Work whose caller has had its
    /// error never starts: the lease may come long after, once the database is back, and a change answered with a 503
    /// must not be made then (the store-outage drill, Docs/reliability.md).
    @discardableResult
    func bounded<T: Sendable>(_ what: String, _ operation: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let timeout = operationTimeout
        let address = self.address
        let client = self.client
        do {
            return try await Self.racing(timeout: timeout, {
                try await client.withConnection { connection in
                    try Task.checkCancellation()
                    return try await operation(connection)
                }
            }) {
                StoreError("PostgreSQL at \(address.host):\(address.port) did not answer within \(timeout)")
            }
        } catch let error as StoreError {
            throw StoreError("the PostgreSQL store could not \(what): \(error.description)")
        } catch let error as PSQLError {
            throw StoreError("the PostgreSQL store could not \(what): \(Self.describe(error))")
        } catch let error as PostgresTransactionError {
            // What the transaction's own work threw (a HubError from the hub: the change is refused) comes out as it is.
            if let inner = error.closureError {
                if let psql = inner as? PSQLError { throw StoreError("the PostgreSQL store could not \(what): \(Self.describe(psql))") }
                throw inner
            }
            let cause = (error.beginError ?? error.commitError).map { ($0 as? PSQLError).map(Self.describe) ?? "\($0)" } ?? "\(error)"
            throw StoreError("the PostgreSQL store could not \(what): \(cause)")
        }
    }

    /// `operation`'s result, or `timedOut()` thrown once `timeout` has passed, whichever comes first; the caller's
    /// cancellation cancels the operation. The timer is an event loop's scheduled task (cheaper than a sleeping task
    /// on the publish path), and the first outcome wins.
    static func racing<T: Sendable>(
        timeout: Duration, _ operation: @escaping @Sendable () async throws -> T, timedOut: @escaping @Sendable () -> any Error
    ) async throws -> T {
        let race = Race<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                race.start(continuation)
                let work = Task {
                    do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
                }
                let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(Int64(timeout / .nanoseconds(1)))) {
                    if race.finish(.failure(timedOut())) { work.cancel() }
                }
                race.onFinish { timer.cancel() }
                race.onCancel { work.cancel() }
            }
        } onCancel: {
            race.cancel()
        }
    }

    static func describe(_ error: PSQLError) -> String {
        if let message = error.serverInfo?[.message] { return "PostgreSQL says: \(message)" }
        if let underlying = error.underlying { return "\(underlying)" }
        return "\(error.code)"
    }
}

/// One continuation resumed by the first of several outcomes (the operation, its timer, the caller's cancellation).
/// A lock, not an actor: it is on every database operation's path, and nothing here waits.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var done = false
        var cancelled = false
        var finished: [@Sendable () -> Void] = []
        var cancellers: [@Sendable () -> Void] = []
    }
    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<T, any Error>) {
        let cancelled = state.withLock { state -> Bool in
            state.continuation = continuation
            return state.cancelled
        }
        if cancelled { finish(.failure(CancellationError())) }
    }

    /// True when this outcome was the first.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (continuation, after) = state.withLock { state -> (CheckedContinuation<T, any Error>?, [@Sendable () -> Void]) in
            guard !state.done, let continuation = state.continuation else { return (nil, []) }
            state.done = true
            state.continuation = nil
            defer { state.finished = [] }
            return (continuation, state.finished)
        }
        guard let continuation else { return false }
        continuation.resume(with: result)
        for action in after { action() }
        return true
    }

    func onFinish(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.done { return true }
            state.finished.append(action)
            return false
        }
        if now { action() }
    }

    func onCancel(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.cancelled { return true }
            state.cancellers.append(action)
            return false
        }
        if now { action() }
    }

    func cancel() {
        let actions = state.withLock { state -> [@Sendable () -> Void] in
            state.cancelled = true
            defer { state.cancellers = [] }
            return state.cancellers
        }
        for action in actions { action() }
        finish(.failure(CancellationError()))
    }
}
