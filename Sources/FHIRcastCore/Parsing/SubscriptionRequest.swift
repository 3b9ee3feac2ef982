import Foundation

/// A validated subscribe or unsubscribe request (C9–C13, C22, C23; STU2 webhook fields §1.10).
public struct SubscriptionRequest: Sendable, Hashable {
    public enum Mode: String, Sendable { case subscribe, unsubscribe }
    public enum ChannelType: String, Sendable { case websocket, webhook }

    public var mode: Mode
    public var topic: String
    /// Requested events, deduplicated case-insensitively, canonical casing (empty for unsubscribe).
    public var events: [String]
    public var channelType: ChannelType
    /// Requested lease in seconds, if any.
    public var leaseSeconds: Int?
    /// For websocket: the endpoint URL of an existing subscription (re-subscribe, unsubscribe).
    public var endpoint: String?
    /// For webhook: the callback URL and the HMAC secret.
    public var callback: String?
    public var secret: String?
    public var subscriberName: String?
    /// The most events one subscription may name: its confirmation echoes them, so they bound what one request makes
    /// the hub hold and send (the catalog has about 50; `*` takes them all).
    public static let maxEvents = 256
    /// Who asks (the token's subject, when there is a token): subscriptions are capped per owner.
    public var owner: String? = nil

    /// Events that are accepted in a request but never granted.
    public static let droppedEvents: Set<String> = ["heartbeat"]

    /// Parses and validates a form. STU3 accepts only websocket; STU2 accepts webhook too.
    public static func parse(_ form: FormFields, flavor: Flavor) throws(HubError) -> SubscriptionRequest {
        if let dup = form.duplicatedNames.first {
            throw .badRequest("parameter '\(dup)' is given more than once")
        }
        guard let modeText = form.value("hub.mode", "hub_mode") else {
            throw .badRequest("missing 'hub.mode' (expected subscribe or unsubscribe)")
        }
        guard let mode = Mode(rawValue: modeText.lowercased()) else {
            throw .badRequest("unknown hub.mode '\(modeText)' (expected subscribe or unsubscribe)")
        }
        guard let topic = form.value("hub.topic", "hub_topic"), !topic.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw .badRequest("missing or empty 'hub.topic'")
        }
        if topic.count > 512 { throw .badRequest("'hub.topic' is longer than 512 characters") }

        let callback = form.value("hub.callback", "hub_callback").flatMap { $0.isEmpty ? nil : $0 }
        let channelText = form.value("hub.channel.type", "hub_channel_type")
        let channelType: ChannelType
        switch channelText?.lowercased() {
        case "websocket":
            channelType = .websocket
        case "webhook":
            guard flavor == .stu2 else {
                throw .badRequest("hub.channel.type 'webhook' is not supported by FHIRcast STU3; use websocket (or the STU2 hub.url)")
            }
            channelType = .webhook
        case nil:
            // STU2 webhook subscribers commonly omit the channel type and send a callback.
            if flavor == .stu2, callback != nil {
                channelType = .webhook
            } else {
                throw .badRequest("missing 'hub.channel.type' (expected websocket)")
            }
        case let other?:
            throw .badRequest("unknown hub.channel.type '\(other)' (expected \(flavor == .stu2 ? "websocket or webhook" : "websocket"))")
        }

        var request = SubscriptionRequest(
            mode: mode, topic: topic, events: [], channelType: channelType, leaseSeconds: nil,
            endpoint: form.value("hub.channel.endpoint", "hub_channel_endpoint").flatMap { $0.isEmpty ? nil : $0 },
            callback: callback,
            secret: form.value("hub.secret", "hub_secret"),
            subscriberName: form.value("subscriber.name", "subscriber_name")
        )

        if let leaseText = form.value("hub.lease_seconds", "hub.lease", "hub_lease_seconds") {
            guard let lease = Int(leaseText.trimmingCharacters(in: .whitespaces)), lease > 0 else {
                throw .badRequest("'hub.lease_seconds' must be a positive integer, got '\(leaseText)'")
            }
            request.leaseSeconds = lease
        }

        switch mode {
        case .subscribe:
            guard let eventsText = form.value("hub.events", "hub_events") else {
                throw .badRequest("missing 'hub.events' (a comma-separated list of event names)")
            }
            let requested = EventName.parseList(eventsText)
            if requested.isEmpty { throw .badRequest("'hub.events' is empty") }
            if requested.count > Self.maxEvents {
                throw .badRequest(
                    "'hub.events' names \(requested.count) events; a subscription may name at most \(Self.maxEvents) (the catalog has about 50, and '*' takes them all)")
            }
            // `heartbeat` was removed from STU3 but older clients still ask for it: it is left out of the granted
            // events (C5), which the confirmation shows, rather than failing the whole subscription.
            let events = requested.filter { !Self.droppedEvents.contains($0.lowercased()) }
            if events.isEmpty {
                throw .badRequest("'hub.events' names only events this hub does not offer (\(requested.joined(separator: ",")))")
            }
            for e in events {
                if let problem = EventCatalog.problem(withName: e) { throw .badRequest(problem) }
            }
            request.events = events
        case .unsubscribe:
            if channelType == .websocket, request.endpoint == nil {
                throw .badRequest("unsubscribe needs 'hub.channel.endpoint' (the URL returned by the subscribe)")
            }
        }

        if channelType == .webhook {
            guard let callback = request.callback else { throw .badRequest("webhook subscriptions need 'hub.callback'") }
            if let problem = OutboundURL.problem(callback) {
                throw .badRequest("'hub.callback' \(problem), got '\(callback)'")
            }
            if mode == .subscribe {
                guard let secret = request.secret, !secret.isEmpty else {
                    throw .badRequest("webhook subscriptions need 'hub.secret'")
                }
                if secret.utf8.count >= 200 { throw .badRequest("'hub.secret' must be shorter than 200 bytes") }
            }
        }
        return request
    }
}
