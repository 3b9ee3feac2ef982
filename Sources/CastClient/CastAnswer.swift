import FHIRcastCore

/// The collated answer to a request (cast-protocol.md §3.1), typed: who was asked, who did not answer in time, and
/// each answer's data. `json` is the hub's body as it came.
public struct CastAnswer: Sendable, Equatable {
    public struct Response: Sendable, Equatable {
        public var subscriber: String
        public var actor: String?
        public var productName: String?
        public var data: JSONValue
    }

    /// No expected responder was missing (true too when no one was asked, as on the reference).
    public var ok: Bool
    public var expected: [String]
    public var missing: [String]
    public var timedOut: Bool
    public var responses: [Response]
    public var json: JSONValue

    public init(json: JSONValue) {
        self.json = json
        ok = json["ok"] == .bool(true)
        expected = json["expected"]?.arrayValue?.compactMap(\.stringValue) ?? []
        missing = json["missing"]?.arrayValue?.compactMap(\.stringValue) ?? []
        timedOut = json["timedOut"] == .bool(true)
        responses = (json["responses"]?.arrayValue ?? []).compactMap { item in
            guard let subscriber = item["subscriber"]?.stringValue else { return nil }
            return Response(subscriber: subscriber, actor: item["actor"]?.stringValue, productName: item["productName"]?.stringValue, data: item["data"] ?? .null)
        }
    }

    /// The first answer from `subscriber`, or from anyone when nil.
    public func data(from subscriber: String? = nil) -> JSONValue? {
        responses.first { subscriber == nil || $0.subscriber.lowercased() == subscriber?.lowercased() }?.data
    }
}
