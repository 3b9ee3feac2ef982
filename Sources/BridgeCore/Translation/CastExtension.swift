import FHIRcastCore

/// How the Cast envelope fields travel on the FHIRcast side: one FHIRcast extension context entry
/// (fhircast-docs 2-8-Extensions: the reserved key `extension` with a JSON object in `data`), holding one
/// object under the key `org.castbridge.cast`:
///
///     {"key": "extension", "data": {"org.castbridge.cast": {
///         "subscriber.name": "VolView-ABC123", "subscriber.product.name": "VolView", "subscriber.actor": "ID",
///         "target.actor": "ID", "target.product.name": "3DSLICER-ID", "target.subscriber.name": "...",
///         "context": { ...a Cast object context... } }}}
///
/// Namespacing the object lets other extensions share the entry. Cast's hub-added `host` key is never carried.
public enum CastExtension {
    public static let dataKey = "org.castbridge.cast"

    /// The Cast root keys carried across, in both directions.
    public static let fields = [
        "subscriber.name", "subscriber.product.name", "subscriber.product.version", "subscriber.actor",
        "target.actor", "target.product.name", "target.subscriber.name", "actor",
    ]

    /// A context entry holding these fields, or nil when there is nothing to carry.
    public static func entry(_ object: [String: JSONValue]) -> JSONValue? {
        guard !object.isEmpty else { return nil }
        return ["key": "extension", "data": .object([dataKey: .object(object)])]
    }

    /// Splits a FHIRcast context into the Cast fields of its castbridge extension and the other entries.
    /// An extension entry that also holds other data keeps them, without ours.
    public static func extract(from context: [JSONValue]) -> (fields: [String: JSONValue], rest: [JSONValue]) {
        var fields: [String: JSONValue] = [:]
        var rest: [JSONValue] = []
        rest.reserveCapacity(context.count)
        for item in context {
            guard case .object(var entry) = item, entry["key"]?.stringValue == "extension",
                case .object(var data)? = entry["data"], case .object(let ours)? = data.removeValue(forKey: dataKey)
            else {
                rest.append(item)
                continue
            }
            fields.merge(ours) { _, new in new }
            if !data.isEmpty {
                entry["data"] = .object(data)
                rest.append(.object(entry))
            }
        }
        return (fields, rest)
    }
}
