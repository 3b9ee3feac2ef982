/// Implied open events (C29): an `*-open` implies an open for each anchor resource type its context references —
/// `Encounter-open` implies `Patient-open`; `DiagnosticReport-open` implies `Patient-open`, and `ImagingStudy-open`
/// and `Encounter-open` when a study or encounter is given.
public enum ImpliedOpens {
    /// Anchor types that can be implied, with the context keys their open event carries (anchor key first).
    static let anchors: [(type: String, keys: [String])] = [
        ("Patient", ["patient"]),
        ("Encounter", ["encounter", "patient"]),
        ("ImagingStudy", ["study", "encounter", "patient"]),
        ("DiagnosticReport", ["report", "encounter", "study", "patient"]),
    ]

    public struct Implied: Sendable, Hashable {
        /// e.g. `Patient`
        public var resourceType: String
        /// e.g. `Patient/123`
        public var anchorID: String
        /// The context of the implied open: the anchor entry and the related entries present in the source event.
        public var context: [JSONValue]
        public var eventName: String { "\(resourceType)-open" }
    }

    /// The opens an `*-open` event implies, not including its own anchor type. Empty for other events.
    public static func of(_ event: Event) -> [Implied] {
        guard let split = EventName.split(event.name), split.action == .open else { return [] }
        let own = split.resourceType.lowercased()
        var result: [Implied] = []
        for anchor in anchors where anchor.type.lowercased() != own {
            guard let main = event.entry(anchor.keys[0]) else { continue }
            var context: [JSONValue] = [.object(main)]
            for key in anchor.keys.dropFirst() {
                if let entry = event.entry(key) { context.append(.object(entry)) }
            }
            let implied = Event(topic: event.topic, name: "\(anchor.type)-open", context: context)
            guard let id = TopicContext.anchor(of: implied)?.anchorID else { continue }
            result.append(Implied(resourceType: anchor.type, anchorID: id, context: context))
        }
        return result
    }

    /// Every anchor an open event shows to whoever receives it: its own and the implied ones (type lower-cased → id).
    public static func shown(by event: Event) -> [String: String] {
        guard let split = EventName.split(event.name), split.action == .open else { return [:] }
        var shown: [String: String] = [:]
        if let own = TopicContext.anchor(of: event) { shown[split.resourceType.lowercased()] = own.anchorID }
        for i in of(event) { shown[i.resourceType.lowercased()] = i.anchorID }
        return shown
    }
}
