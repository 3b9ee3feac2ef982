import Foundation

/// The FHIRcast STU3 event catalog (fhircast-hub-requirements.md §3) and event-name rules (C12, C39).
public enum EventCatalog {
    /// An entry of the catalog.
    public struct Entry: Sendable {
        /// Canonical STU3 spelling, e.g. `DiagnosticReport-open`.
        public let name: String
        /// Context keys that must be present.
        public let requiredKeys: [String]
    }

    public static let entries: [Entry] = [
        Entry(name: "Patient-open", requiredKeys: ["patient"]),
        Entry(name: "Patient-close", requiredKeys: ["patient"]),
        Entry(name: "Encounter-open", requiredKeys: ["encounter", "patient"]),
        Entry(name: "Encounter-close", requiredKeys: ["encounter", "patient"]),
        Entry(name: "ImagingStudy-open", requiredKeys: ["study"]),
        Entry(name: "ImagingStudy-close", requiredKeys: ["study"]),
        Entry(name: "DiagnosticReport-open", requiredKeys: ["report", "patient"]),
        Entry(name: "DiagnosticReport-close", requiredKeys: ["report", "patient"]),
        Entry(name: "DiagnosticReport-update", requiredKeys: ["report", "updates"]),
        Entry(name: "DiagnosticReport-select", requiredKeys: ["report", "select"]),
        Entry(name: "SyncError", requiredKeys: ["operationoutcome"]),
        Entry(name: "UserLogout", requiredKeys: ["parameters"]),
        Entry(name: "UserHibernate", requiredKeys: ["parameters"]),
        Entry(name: "Home-open", requiredKeys: []),
    ]

    /// Catalog entries by lower-cased name.
    public static let byKey: [String: Entry] = Dictionary(
        uniqueKeysWithValues: entries.map { ($0.name.lowercased(), $0) }
    )

    /// The canonical STU3 spelling for a name, or the name as given when it is not in the catalog.
    public static func canonical(_ name: String) -> String {
        byKey[name.lowercased()]?.name ?? name
    }

    /// The context key under which each anchor resource type travels. Legacy exceptions: `study`, `report`.
    public static let anchorKeys: [String: String] = [
        "patient": "patient",
        "encounter": "encounter",
        "imagingstudy": "study",
        "diagnosticreport": "report",
    ]

    /// The context key of the anchor for a resource type (lower-cased type → key).
    public static func anchorKey(forResourceType type: String) -> String {
        anchorKeys[type.lowercased()] ?? type.lowercased()
    }

    /// Why an event name is not acceptable, or nil when it is.
    ///
    /// Accepted: catalog names; `<R4 resource type>-open|close|update|select`; proprietary
    /// reverse-domain names without a dash (C39). Rejected: empty names, `*` wildcards, anything else.
    public static func problem(withName name: String) -> String? {
        if name.isEmpty { return "event name is empty" }
        if name.containsBytes("*") { return "wildcard '*' is not a valid FHIRcast event name" }
        let key = name.lowercased()
        if byKey[key] != nil { return nil }
        if let parsed = EventName.split(name), FHIRResourceTypes.contains(parsed.resourceType) {
            return nil
        }
        if isReverseDomain(name) { return nil }
        if name.containsBytes("-") && name.containsBytes(".") {
            return "invalid event name '\(name)': proprietary event names must be reverse-domain names without a dash"
        }
        return "invalid event name '\(name)': not a FHIRcast catalog event, not <FHIR resource type>-open|close|update|select, and not a reverse-domain name without a dash"
    }

    /// A reverse-domain name: at least two dot-separated labels of letters, digits and underscores, no dash.
    public static func isReverseDomain(_ name: String) -> Bool {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
        }
    }
}

/// The parts of a `<ResourceType>-<action>` event name.
public enum EventName {
    public enum Action: String, Sendable {
        case open, close, update, select
    }

    /// Splits `DiagnosticReport-open` into (`DiagnosticReport`, `.open`). Case-insensitive in the action.
    public static func split(_ name: String) -> (resourceType: String, action: Action)? {
        guard let dash = name.lastIndex(of: "-") else { return nil }
        let type = String(name[..<dash])
        guard let action = Action(rawValue: name[name.index(after: dash)...].lowercased()) else { return nil }
        return (type, action)
    }

    /// Parses a comma-separated `hub.events` list into a set-like list: trimmed, without empties,
    /// duplicates removed case-insensitively (C12), first spelling kept, canonical casing for catalog names.
    public static func parseList(_ text: String) -> [String] {
        var seen = Set<String>()
        var result: [String] = []
        for part in text.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { continue }
            if seen.insert(name.lowercased()).inserted {
                result.append(EventCatalog.canonical(name))
            }
        }
        return result
    }
}
