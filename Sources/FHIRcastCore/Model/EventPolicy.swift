/// Which events the hub takes (C5): what discovery's `eventsSupported` lists is exactly what it accepts.
///
/// By default: the STU3 catalog, and the names a deployment declares (the bridge's mapping files: proprietary events
/// such as `org.castbridge.dicom_send`, and any FHIRcast name a rule carries). A subscription's other names are
/// dropped from its granted `hub.events`; a publish of one is a 400. `acceptsAnyWellFormedName` (off by default)
/// takes every name the event-name rules allow (C39); discovery then still lists only the catalog and declared names.
public struct EventPolicy: Sendable, Hashable {
    /// Catalog names first, then declared ones, in their canonical spelling: what discovery lists.
    public let names: [String]
    public let acceptsAnyWellFormedName: Bool
    private let keys: Set<String>

    public init(declared: [String] = [], acceptsAnyWellFormedName: Bool = false) {
        var seen = Set<String>()
        names = (EventCatalog.entries.map(\.name) + declared.map(EventCatalog.canonical)).filter { seen.insert($0.lowercased()).inserted }
        keys = seen
        self.acceptsAnyWellFormedName = acceptsAnyWellFormedName
    }

    /// Why the hub does not take this event name, or nil when it does.
    public func problem(withName name: String) -> String? {
        // Listed names are well-formed already: one set look-up on a publish's path, not the name rules again.
        if keys.contains(name.lowercased()) { return nil }
        if let malformed = EventCatalog.problem(withName: name) { return malformed }
        if acceptsAnyWellFormedName { return nil }
        return "event '\(name)' is not supported by this hub: eventsSupported in .well-known/fhircast-configuration lists the events it takes"
    }
}
