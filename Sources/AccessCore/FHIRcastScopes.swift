/// SMART FHIRcast scopes (2-2-FhircastScopes): `fhircast/<event|*>.<read|write|*>`, event names compared without
/// case. Scopes of other shapes are not FHIRcast's and are ignored here.
public struct FHIRcastScopes: Sendable, Equatable {
    public enum Access: Sendable, Equatable {
        case read, write
    }

    private struct Grant: Sendable, Equatable {
        /// Lower-cased event name, or nil for `*`.
        var event: String?
        var read: Bool
        var write: Bool
    }

    private var grants: [Grant] = []

    public init(_ scopes: some Sequence<String>) {
        for scope in scopes {
            guard scope.count > 9, scope.lowercased().hasPrefix("fhircast/"), let dot = scope.lastIndex(of: ".") else { continue }
            let name = scope[scope.index(scope.startIndex, offsetBy: 9)..<dot]
            let access = scope[scope.index(after: dot)...].lowercased()
            guard !name.isEmpty else { continue }
            let event: String? = name == "*" ? nil : name.lowercased()
            switch access {
            case "read": grants.append(Grant(event: event, read: true, write: false))
            case "write": grants.append(Grant(event: event, read: false, write: true))
            case "*": grants.append(Grant(event: event, read: true, write: true))
            default: continue
            }
        }
    }

    /// Whether the scopes grant `access` to `event`.
    public func allows(_ access: Access, _ event: String) -> Bool {
        let key = event.lowercased()
        return grants.contains { grant in
            (grant.event == nil || grant.event == key) && (access == .read ? grant.read : grant.write)
        }
    }

    /// Whether any FHIRcast scope grants reading.
    public var readsAnything: Bool { grants.contains { $0.read } }
}
