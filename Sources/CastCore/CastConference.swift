import FHIRcastCore
import Foundation
import OrderedCollections

/// A tumor-board conference: events on any participant topic reach every participant topic (cast-protocol.md §5).
public struct CastConference: Sendable, Hashable, Codable {
    public var hostTopic: String
    public var title: String
    /// Attendee topics: deduplicated, without `*` and without the host's own topic.
    public var topics: [String]

    public init(hostTopic: String, title: String, topics: [String]) {
        self.hostTopic = hostTopic
        self.title = title
        var seen = Set<String>()
        self.topics = topics.map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty && $0 != "*" && $0 != hostTopic && seen.insert($0).inserted
        }
    }

    /// Host first, then attendees.
    public var participantTopics: [String] { [hostTopic] + topics }

    public func involves(_ topic: String) -> Bool { topic == hostTopic || topics.contains(topic) }

    /// Parses a create request: `hostTopic` (or legacy `user`) and `title` are required; `topics` is a JSON
    /// array or a comma-separated string.
    public static func parse(_ body: [String: JSONValue]) throws(CastError) -> CastConference {
        let host = (body["hostTopic"] ?? body["user"])?.stringValue?.trimmingCharacters(in: .whitespaces) ?? ""
        let title = body["title"]?.stringValue?.trimmingCharacters(in: .whitespaces) ?? ""
        guard !host.isEmpty else { throw CastError(400, "hostTopic is required") }
        guard !title.isEmpty else { throw CastError(400, "title is required") }
        let topics: [String]
        switch body["topics"] {
        case .array(let items)?: topics = items.compactMap(\.stringValue)
        case .string(let s)?: topics = s.split(separator: ",").map(String.init)
        default: topics = []
        }
        return CastConference(hostTopic: host, title: title, topics: topics)
    }

    var json: JSONValue {
        ["hostTopic": .string(hostTopic), "title": .string(title), "topics": .array(topics.map(JSONValue.string))]
    }
}

extension CastHubState {
    /// The first websocket subscriber name on each participant topic.
    public func participants(of conference: CastConference) -> [String] {
        var names: [String] = []
        for topic in conference.participantTopics {
            if let sub = subscriptions.values.first(where: { $0.topic == topic && $0.isWebSocket }), !names.contains(sub.name) {
                names.append(sub.name)
            }
        }
        return names
    }

    /// Every bound websocket on these topics, once each, regardless of their events.
    func sockets(on topics: [String]) -> [String] {
        var result: [String] = []
        for topic in topics {
            for sub in subscriptions.values where sub.topic == topic && sub.isWebSocket && sub.bound && !result.contains(sub.endpoint) {
                result.append(sub.endpoint)
            }
        }
        return result
    }

    func conferenceEvent(_ name: String, host: String, context: JSONValue, id: String, timestamp: String) -> JSONValue {
        [
            "timestamp": .string(timestamp), "id": .string(id),
            "event": ["hub.topic": .string(host), "hub.event": .string(name), "context": context],
        ]
    }

    /// Creates a conference and the `conference-start` for every socket on every participant topic.
    public mutating func createConference(_ conference: CastConference, id: String, timestamp: String) -> (JSONValue, Delivery) {
        conferences.append(conference)
        let context: JSONValue = [
            "title": .string(conference.title), "hostTopic": .string(conference.hostTopic),
            "participants": .array(participants(of: conference).map(JSONValue.string)),
        ]
        let event = conferenceEvent("conference-start", host: conference.hostTopic, context: context, id: id, timestamp: timestamp)
        return (
            ["status": "created", "conference": conference.json],
            Delivery(envelope: event, endpoints: sockets(on: conference.participantTopics))
        )
    }

    /// The conferences, each with its participants.
    public func conferenceList() -> JSONValue {
        .array(conferences.map { conf in
            var o = conf.json.objectValue ?? [:]
            o["participants"] = .array(participants(of: conf).map(JSONValue.string))
            return .object(o)
        })
    }

    /// Distinct subscription topics except `*`, sorted.
    public func conferenceTopics() -> JSONValue {
        .array(Set(subscriptions.values.map(\.topic)).filter { $0 != "*" && !$0.isEmpty }.sorted().map(JSONValue.string))
    }

    /// Ends a conference (`hostTopic`) or removes one attendee (`leaveTopic`).
    public mutating func endConference(_ body: [String: JSONValue], id: String, timestamp: String) throws(CastError) -> (JSONValue, Delivery?) {
        let host = (body["hostTopic"] ?? body["user"])?.stringValue?.trimmingCharacters(in: .whitespaces) ?? ""
        guard !host.isEmpty else { throw CastError(400, "hostTopic is required") }
        let leave = body["leaveTopic"]?.stringValue?.trimmingCharacters(in: .whitespaces) ?? ""
        guard let index = conferences.firstIndex(where: { $0.hostTopic == host }) else {
            return (["removed": 0, "updated": 0], nil)
        }
        let conference = conferences[index]
        if !leave.isEmpty {
            guard conference.topics.contains(leave) else { return (["removed": 0, "updated": 0], nil) }
            conferences[index].topics.removeAll { $0 == leave }
            let context: JSONValue = [
                "title": .string(conference.title), "hostTopic": .string(host), "reason": "attendee-left", "leaveTopic": .string(leave),
            ]
            let event = conferenceEvent("conference-end", host: host, context: context, id: id, timestamp: timestamp)
            return (["removed": 0, "updated": 1], Delivery(envelope: event, endpoints: sockets(on: [leave])))
        }
        conferences.remove(at: index)
        let context: JSONValue = ["title": .string(conference.title), "hostTopic": .string(host), "reason": "host-ended"]
        let event = conferenceEvent("conference-end", host: host, context: context, id: id, timestamp: timestamp)
        return (["removed": 1, "updated": 0], Delivery(envelope: event, endpoints: sockets(on: conference.participantTopics)))
    }

    /// The conference pass of a publish: the same JSON to every socket on every participant topic of each
    /// conference involving the event's topic — events and target filters ignored — except sockets that already
    /// got it and the publisher's own name.
    func conferenceEndpoints(for envelope: [String: JSONValue], excluding already: [String]) -> [String] {
        let topic = envelope["event"]?["hub.topic"]?.stringValue ?? ""
        let publisher = CastRouting(envelope: envelope).publisher
        var result: [String] = []
        var sent = Set(already)
        for conference in conferences where conference.involves(topic) {
            for endpoint in sockets(on: conference.participantTopics) where !sent.contains(endpoint) {
                if let publisher, let name = subscriptions[endpoint]?.name, name.caseInsensitiveCompare(publisher) == .orderedSame {
                    continue
                }
                sent.insert(endpoint)
                result.append(endpoint)
            }
        }
        return result
    }
}
