import CastCore
import FHIRcastCore
import Foundation
import Testing

/// The embedded Cast hub's state across nodes and restarts (issue #19), apart from any store or socket.
@Suite("Cast hub state across nodes")
struct CastClusterStateTests {
    static func sub(_ endpoint: String, topic: String = "T", events: String = "*", name: String, channel: String = "websocket") throws -> CastSubscription {
        var fields: [String: JSONValue] = [
            "hub.topic": .string(topic), "hub.events": .string(events), "subscriber.name": .string(name), "hub.channel.type": .string(channel),
            "subscriber.actors": "[\"ID\"]", "subscriber.client_info": "{\"productName\":\"OHIF\",\"secret\":\"dropped\"}",
        ]
        if channel != "websocket" {
            fields["hub.callback"] = "https://example.org/cb"
            fields["hub.secret"] = "s3cr3t"
        }
        return try CastSubscription.parse(CastFields(fields), endpoint: endpoint)
    }

    static func envelope(_ id: String, topic: String = "T", from: String = "P") -> JSONValue {
        ["id": .string(id), "subscriber.name": .string(from), "event": ["hub.topic": .string(topic), "hub.event": "annotation-update", "context": [:]]]
    }

    @Test("A subscription's JSON round trip keeps every field and remakes its parsed event names and name key (a stored WebSub subscription routes as before)")
    func codable() throws {
        var original = try Self.sub("e1", events: "Annotation-Update, status-request", name: "Viewer", channel: "websub")
        original.owner = "alice"
        original.bound = true
        let decoded = try JSONDecoder().decode(CastSubscription.self, from: try JSONEncoder().encode(original))
        #expect(decoded == original)
        #expect(decoded.eventNames.names == ["annotation-update", "status-request"])
        #expect(CastRouting(envelope: ["subscriber.name": "viewer"]).admits(decoded) == false)  // name key remade
        #expect(!decoded.nodeLocal)
        let message = CastClusterMessage.subscribed(decoded)
        #expect(try JSONDecoder().decode(CastClusterMessage.self, from: try JSONEncoder().encode(message)) == message)
    }

    @Test("What another node told is applied: its subscription (kept bound if its socket bound here first), a bind, a removal (the socket here to close), a clear; the sender's own state changes are not applied twice")
    func stateChanges() throws {
        var state = CastHubState()
        let remote = try Self.sub("r1", name: "Remote")
        var r = state.apply(CastClusterNote(message: .subscribed(remote), fromThisNode: false))
        #expect(state.has("r1") && r.removed.isEmpty)
        #expect(state.subscription("r1")?.bound == false)
        r = state.apply(CastClusterNote(message: .bound(endpoint: "r1"), fromThisNode: false))
        #expect(state.subscription("r1")?.bound == true)
        // A socket that bound here before the notice: still bound after it.
        state.add(try Self.sub("early", name: "Early"))
        _ = state.bind("early")
        _ = state.apply(CastClusterNote(message: .subscribed(try Self.sub("early", name: "Early")), fromThisNode: false))
        #expect(state.subscription("early")?.bound == true)
        // The sender's own: not applied again.
        _ = state.apply(CastClusterNote(message: .subscribed(try Self.sub("own", name: "Own")), fromThisNode: true))
        #expect(!state.has("own"))
        r = state.apply(CastClusterNote(message: .removed(endpoints: ["r1", "unknown"]), fromThisNode: false))
        #expect(r.removed == ["r1"])
        #expect(!state.has("r1"))
        r = state.apply(CastClusterNote(message: .cleared, fromThisNode: false))
        #expect(r.closeAll && r.removed == ["early"])
        #expect(state.subscriptionCount == 0)
    }

    @Test("A publish heard from the cluster is delivered by every node to its own bound sockets, the sender's too; WebSub only by the node that took it; a node-local subscription (the bridge's) only gets its own node's events")
    func publishes() throws {
        var state = CastHubState()
        state.add(try Self.sub("socket", name: "Viewer"))
        _ = state.bind("socket")
        var bridge = try Self.sub("bridge", topic: "*", name: "castbridge")
        bridge.nodeLocal = true
        state.add(bridge)
        _ = state.bind("bridge")
        state.add(try Self.sub("hook", name: "Hook", channel: "websub"))
        let fromElsewhere = state.apply(CastClusterNote(message: .published(Self.envelope("1")), fromThisNode: false))
        #expect(fromElsewhere.deliveries.first?.endpoints == ["socket"])
        #expect(fromElsewhere.deliveries.first?.webSub.isEmpty == true)
        let own = state.apply(CastClusterNote(message: .published(Self.envelope("2")), fromThisNode: true))
        #expect(own.deliveries.first?.endpoints == ["socket", "bridge"])
        #expect(own.deliveries.first?.webSub.map(\.endpoint) == ["hook"])
        // Remembered as the topic's last context on every node (generation B's GET).
        #expect(state.lastContext(of: "T") == [:])
        _ = state.apply(CastClusterNote(message: .published(["id": "3", "event": ["hub.topic": "T", "hub.event": "x", "context": ["a": 1]]]), fromThisNode: false))
        #expect(state.lastContext(of: "T") == ["a": 1])
    }

    @Test("Conferences told by another node start and end here; a restart takes back subscriptions and conferences once each")
    func conferencesAndRestore() throws {
        var state = CastHubState()
        state.add(try Self.sub("h", topic: "HOST", name: "Host"))
        _ = state.bind("h")
        let conference = CastConference(hostTopic: "HOST", title: "Board", topics: ["A1"])
        let started = state.apply(CastClusterNote(message: .conferenceCreated(conference, id: "c", timestamp: "t"), fromThisNode: false))
        #expect(started.deliveries.first?.endpoints == ["h"])
        #expect(state.conferences == [conference])
        _ = state.apply(CastClusterNote(message: .conferenceCreated(conference, id: "c", timestamp: "t"), fromThisNode: false))
        #expect(state.conferences.count == 1)  // told twice: one conference
        let ended = state.apply(CastClusterNote(message: .conferenceEnded(body: ["hostTopic": "HOST"], id: "e", timestamp: "t"), fromThisNode: false))
        #expect(ended.deliveries.first?.envelope["event"]?["context"]?["reason"] == "host-ended")
        #expect(state.conferences.isEmpty)
        var restarted = CastHubState()
        let records = CastRecords(subscriptions: [try Self.sub("w", name: "Hook", channel: "websub")], conferences: [conference])
        restarted.restore(records)
        restarted.restore(records)
        #expect(restarted.subscriptionCount == 1 && restarted.conferences.count == 1)
    }

    @Test("Only answers to requests this node waits for stay here; other *-responses go to the cluster")
    func responses() throws {
        var state = CastHubState()
        state.add(try Self.sub("s", events: "status-request", name: "Slicer"))
        _ = state.bind("s")
        let request = try CastRequest.parse(["subscriber.name": "Asker", "id": "req", "event": ["hub.topic": "T", "hub.event": "status-request", "context": [:]]])
        _ = state.startRequest(request, id: "env", timestamp: "t")
        let mine: JSONValue = ["event": ["hub.event": "status-response", "context": ["id": "req"]]]
        let theirs: JSONValue = ["event": ["hub.event": "status-response", "context": ["id": "other"]]]
        #expect(CastHubState.isResponse(mine) && state.awaitsResponse(mine))
        #expect(CastHubState.isResponse(theirs) && !state.awaitsResponse(theirs))
        #expect(!CastHubState.isResponse(["event": ["hub.event": "status-request"]]))
    }

    @Test("A single node's store keeps WebSub subscriptions and removals, not sockets or events; publishes and removal notices are delivered when heard")
    func kinds() throws {
        #expect(CastClusterMessage.subscribed(try Self.sub("w", name: "W", channel: "websub")).isKeptOnOneNode)
        #expect(!CastClusterMessage.subscribed(try Self.sub("s", name: "S")).isKeptOnOneNode)
        #expect(CastClusterMessage.removed(endpoints: ["w"]).isKeptOnOneNode)
        #expect(!CastClusterMessage.published(Self.envelope("1")).isKeptOnOneNode)
        #expect(CastClusterMessage.published(Self.envelope("1")).isDeliveredWhenHeard)
        #expect(CastClusterMessage.removalNotice(Self.envelope("1")).isDeliveredWhenHeard)
        #expect(!CastClusterMessage.bound(endpoint: "s").isDeliveredWhenHeard)
    }
}
