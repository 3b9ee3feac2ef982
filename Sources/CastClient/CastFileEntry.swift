import FHIRcastCore

/// One file of a binary event's manifest (`context.files[i]`, cast-protocol.md §4.1): stored on the hub in chunks
/// (`payloadIds`), elsewhere (`url`), or inline (`data`, base64).
public struct CastFileEntry: Sendable, Hashable {
    public var fileName: String?
    public var mimeType: String?
    /// The exact size, when the sender or the hub declared it.
    public var byteLength: Int?
    /// The hub's chunks, in order (the legacy singular `payloadId` is read as one chunk).
    public var payloadIDs: [String]
    public var url: String?
    /// Base64 bytes carried in the event itself.
    public var data: String?

    public init(fileName: String? = nil, mimeType: String? = nil, byteLength: Int? = nil, payloadIDs: [String] = [], url: String? = nil, data: String? = nil) {
        self.fileName = fileName
        self.mimeType = mimeType
        self.byteLength = byteLength
        self.payloadIDs = payloadIDs
        self.url = url
        self.data = data
    }

    public init?(json: JSONValue) {
        guard case .object(let o) = json else { return nil }
        let ids = o["payloadIds"]?.arrayValue?.compactMap(\.stringValue) ?? o["payloadId"]?.stringValue.map { [$0] } ?? []
        let length: Int? =
            switch o["byteLength"] {
            case .int(let n)? where n >= 0: Int(n)
            case .double(let d)? where d >= 0 && d == d.rounded() && d < 9e15: Int(d)
            default: nil
            }
        self.init(
            fileName: o["fileName"]?.stringValue ?? o["filename"]?.stringValue, mimeType: o["mimeType"]?.stringValue,
            byteLength: length, payloadIDs: ids, url: o["url"]?.stringValue ?? o["uri"]?.stringValue,
            data: o["data"]?.stringValue)
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = [:]
        if let fileName { o["fileName"] = .string(fileName) }
        if let mimeType { o["mimeType"] = .string(mimeType) }
        if let byteLength { o["byteLength"] = .int(Int64(byteLength)) }
        if !payloadIDs.isEmpty { o["payloadIds"] = .array(payloadIDs.map(JSONValue.string)) }
        if let url { o["url"] = .string(url) }
        if let data { o["data"] = .string(data) }
        return .object(o)
    }
}

/// A file on disk to send in a binary batch.
public struct CastOutgoingFile: Sendable, Hashable {
    public var path: String
    /// The name receivers see; it must pass the hub's file-name allowlist (`.dcm`, `.nii.gz`, `.png`…).
    public var fileName: String
    public var mimeType: String
    public var byteLength: Int

    public init(path: String, fileName: String, mimeType: String, byteLength: Int) {
        self.path = path
        self.fileName = fileName
        self.mimeType = mimeType
        self.byteLength = byteLength
    }
}
