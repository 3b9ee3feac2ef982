import FHIRcastCore
import Foundation
import Logging
import PostgresNIO
import ServiceSupport

/// Leadership in a cluster: a session-level advisory lock on a connection of its own. PostgreSQL lets it go the
/// moment that connection ends (the node stopped, was killed, or lost PostgreSQL), and a waiting node takes it at its
/// next try, within `leadershipRetry`. The leader checks its connection every `leadershipRetry` too, and stops leading
/// when the check fails, so two nodes never both lead for longer than that.
extension PostgresHubStore: Leadership {
    package func whileLeading(_ role: LeadershipRole, _ lead: @escaping @Sendable () async -> Void) async {
        var backoff = Backoff(base: 0.2, max: 5)
        while !Task.isCancelled {
            do {
                try await ready()
                let led = try await client.withConnection { [logger, leadershipRetry] connection in
                    while !Task.isCancelled {
                        let rows = try await connection.query("SELECT pg_try_advisory_lock(\(role.rawValue))", logger: logger)
                        var got = false
                        for try await value in rows.decode(Bool.self) { got = value }
                        if got {
                            logger.info("this node leads", metadata: ["role": "\(role)"])
                            await Self.lead(lead, on: connection, check: leadershipRetry, logger: logger)
                            _ = try? await connection.query("SELECT pg_advisory_unlock(\(role.rawValue))", logger: logger)
                            return true
                        }
                        try await Task.sleep(for: leadershipRetry)
                    }
                    return false
                }
                if led || Task.isCancelled { return }
            } catch {
                if Task.isCancelled { return }
                logger.warning("could not ask PostgreSQL for the lead", metadata: ["role": "\(role)", "error": "\(String(reflecting: error))"])
            }
            do { try await Task.sleep(for: .seconds(backoff.next(unit: Double.random(in: 0..<1)))) } catch { return }
        }
    }

    /// Runs `lead` beside a check of the connection that holds the lock; whichever ends first ends the other.
    private static func lead(_ lead: @escaping @Sendable () async -> Void, on connection: PostgresConnection, check: Duration, logger: Logger) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await lead() }
            group.addTask {
                while !Task.isCancelled {
                    do { try await Task.sleep(for: check) } catch { return }
                    let alive = await withTaskGroup(of: Bool.self) { probe in
                        probe.addTask { (try? await connection.query("SELECT 1", logger: logger)) != nil }
                        probe.addTask {
                            try? await Task.sleep(for: check * 2)
                            return false
                        }
                        defer { probe.cancelAll() }
                        return await probe.next() ?? false
                    }
                    if !alive {
                        logger.warning("the connection that holds the lead failed; leading no more")
                        return
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }
}
