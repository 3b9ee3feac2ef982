import FHIRcastCore
import Foundation
import SQLiteNIO

/// The statements that write one batch of the hub's changes (`HubChanges`) to the SQLite store.
enum SQLiteStatements {
    struct Statement {
        let sql: String
        let binds: [SQLiteData]
    }

    static func writing(_ changes: HubChanges) throws -> [Statement] {
        let encoder = JSONEncoder()
        var statements: [Statement] = []
        for topic in changes.forgottenTopics {
            statements.append(Statement(sql: "DELETE FROM fhircast_topics WHERE topic = ?", binds: [.text(topic)]))
        }
        for (topic, context) in changes.savedTopics {
            let json = String(decoding: try encoder.encode(context), as: UTF8.self)
            statements.append(
                Statement(
                    sql: "INSERT INTO fhircast_topics (topic, context) VALUES (?, ?) ON CONFLICT (topic) DO UPDATE SET context = excluded.context",
                    binds: [.text(topic), .text(json)]))
        }
        for id in changes.endedSubscriptions {
            statements.append(Statement(sql: "DELETE FROM fhircast_webhooks WHERE id = ?", binds: [.text(id.raw)]))
        }
        for (id, sub) in changes.savedSubscriptions {
            let json = String(decoding: try encoder.encode(sub), as: UTF8.self)
            statements.append(
                Statement(
                    sql: "INSERT INTO fhircast_webhooks (id, topic, subscription) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET subscription = excluded.subscription",
                    binds: [.text(id.raw), .text(sub.topic), .text(json)]))
        }
        return statements
    }
}
