import OrderedCollections
import Foundation

/// What the admin console shows of the FHIRcast hub, and what `/metrics` counts of it. Nothing that lets a reader act
/// as a subscriber or read a patient's identity: no endpoint (it is the capability to connect), no callback path or
/// query, no `hub.secret`; a subscription is named by a reference the edge derives (`ref`), and resource ids are
/// masked unless `revealsIDs`.
extension HubState {
    /// Subscriptions by channel, and topics, right now.
    public struct Census: Sendable, Equatable {
        public var websocket = 0
        public var webhook = 0
        public var topics = 0
    }

    public var census: Census {
        var census = Census()
        for sub in subscriptions.values {
            if sub.isWebSocket { census.websocket += 1 } else { census.webhook += 1 }
        }
        census.topics = knownTopics.count
        return census
    }

    /// Every topic the hub knows, in name order: its current context and its subscribers.
    /// - Parameters:
    ///   - ref: the console's name for a subscription (it must not reveal the subscription's id).
    ///   - queued: events handed to a subscriber's channel and not yet taken, when it has one.
    public func consoleView(
        now: Date, revealsIDs: Bool, ref: (SubscriptionID) -> String, queued: (SubscriptionID) -> Int?
    ) -> JSONValue {
        let names = knownTopics.sorted()
        return .array(
            names.map { topic -> JSONValue in
                let subs = (byTopic[topic] ?? []).compactMap { subscriptions[$0] }.sorted { $0.displayName < $1.displayName }
                var o: [String: JSONValue] = [
                    "topic": .string(topic),
                    "subscribers": .array(subs.map { consoleEntry($0, now: now, ref: ref(($0.id)), queued: queued($0.id)) }),
                ]
                if let current = topics[topic]?.current {
                    o["context"] = Self.consoleContext(current, revealsIDs: revealsIDs)
                }
                return .object(o)
            })
    }

    private func consoleEntry(_ sub: Subscription, now: Date, ref: String, queued: Int?) -> JSONValue {
        var o: [String: JSONValue] = [
            "ref": .string(ref),
            "name": .string(sub.displayName),
            "version": .string(sub.flavor.rawValue),
            "events": .array(sub.events.map { .string(sub.flavor.wireName($0)) }),
            "state": .string(Self.consoleState(sub.state)),
            "leaseLeftSeconds": .int(Int64(max(0, sub.expiresAt.timeIntervalSince(now)).rounded(.down))),
            "awaitingAcks": .int(Int64(pendingAcks[sub.id]?.pending.count ?? 0)),
        ]
        switch sub.channel {
        case .websocket:
            o["channel"] = "websocket"
        case .webhook(let callback, _):
            o["channel"] = "webhook"
            if let host = ConsoleMask.host(of: callback) { o["callbackHost"] = .string(host) }
        }
        if let queued { o["backlog"] = .int(Int64(queued)) }
        return .object(o)
    }

    private static func consoleState(_ state: Subscription.State) -> String {
        switch state {
        case .awaitingConnection: "awaiting connection"
        case .awaitingVerification: "awaiting verification"
        case .active: "active"
        }
    }

    /// The current context as resource types and (masked) ids, with its version and how much content it shares.
    static func consoleContext(_ current: TopicContext.OpenContext, revealsIDs: Bool) -> JSONValue {
        let items = current.open.event.context.compactMap { item -> JSONValue? in
            guard let key = item["key"]?.stringValue, key != "content" else { return nil }
            var o: [String: JSONValue] = ["key": .string(key)]
            if let type = item["resource"]?["resourceType"]?.stringValue { o["resourceType"] = .string(type) }
            if let id = item["resource"]?["id"]?.stringValue { o["id"] = .string(revealsIDs ? id : ConsoleMask.id(id)) }
            return .object(o)
        }
        return [
            "type": .string(current.resourceType),
            "versionId": .string(current.versionId),
            "resources": .array(items),
            "sharedContent": .int(Int64(current.content.count)),
        ]
    }
}

extension HubState {
    /// The console ends a subscription: removed, and its subscriber told (a WebSocket's `denied` frame and close, a
    /// webhook's denial GET, C21).
    public mutating func end(_ id: SubscriptionID, reason: String) -> [HubEffect] {
        guard let sub = subscriptions[id] else { return [] }
        remove(id)
        return [.deny(sub, reason: reason)]
    }

    /// The console clears a topic: every subscription of it ended, and, when `forgetsContext`, its context forgotten (a
    /// cluster keeps a topic's context in the store for every node: there it stays, see `FHIRcastHub.clear`).
    public mutating func clear(topic: String, reason: String, forgetsContext: Bool = true) -> [HubEffect] {
        var effects: [HubEffect] = []
        for id in byTopic[topic] ?? [] { effects += end(id, reason: reason) }
        if forgetsContext, let context = topics.removeValue(forKey: topic) {
            noteTopic(topic, basis: context.sequence)
            knownTopicsGeneration &+= 1
        }
        return effects
    }
}

/// How the admin console masks an identifier: its last two characters, so that an operator can tell two apart
/// without reading them.
public enum ConsoleMask {
    public static func id(_ id: String) -> String {
        id.count <= 4 ? "••••" : "••••" + id.suffix(2)
    }

    /// A callback's host only: its path or query may carry a secret of the subscriber's.
    public static func host(of callback: String) -> String? {
        URLComponents(string: callback)?.host
    }
}
