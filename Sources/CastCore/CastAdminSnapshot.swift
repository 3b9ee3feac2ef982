import FHIRcastCore

extension CastHubState {
    /// The admin snapshot (`GET /api/hub/admin/snapshot`): stats, subscriptions and conferences, in the reference's
    /// shape but without what its page leaks: no `hub.secret`, no endpoint (the capability to bind: a subscription is
    /// named by `ref`, as in the admin console), and of a WebSub callback its host only (its path or query may carry
    /// the subscriber's secret). `connected` tells whether an endpoint has a socket now.
    public func adminSnapshot(ref: (String) -> String, connected: (String) -> Bool) -> JSONValue {
        let subs = allSubscriptions.map { sub -> JSONValue in
            var o: [String: JSONValue] = [
                "topic": .string(sub.topic), "events": .string(sub.events), "channel": .string(sub.channelType),
                "subscriber": .string(sub.name), "actors": .array(sub.actors.map(JSONValue.string)),
                "ref": .string(ref(sub.endpoint)), "connected": .bool(connected(sub.endpoint)),
                "lease_seconds": .int(Int64(sub.leaseSeconds)), "client_info": .object(sub.clientInfo),
            ]
            if let product = sub.productName { o["product_name"] = .string(product) }
            if let callback = sub.callback, let host = ConsoleMask.host(of: callback) { o["callback_host"] = .string(host) }
            return .object(o)
        }
        let topics = Set(allSubscriptions.map(\.topic)).filter { !$0.isEmpty }
        return [
            "stats": [
                "total_subscriptions": .int(Int64(subs.count)), "total_topics": .int(Int64(topics.count)),
                "total_conferences": .int(Int64(conferences.count)),
            ],
            "subscriptions": .array(subs),
            "conferences": conferenceList(),
        ]
    }
}
