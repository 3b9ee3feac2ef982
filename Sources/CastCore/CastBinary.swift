import FHIRcastCore
import Foundation

/// A binary batch (cast-protocol.md §4.1): the JSON envelope of part 1, whose `event.context.files[]` is the
/// manifest of the parts that follow. Pure: validation and the rewriting of the envelope after storage.
public struct CastBinaryManifest: Sendable {
    public struct File: Sendable, Hashable {
        public var fileName: String
        public var byteLength: Int?
        public var mimeType: String?
        /// An http(s) url entry (generation D) travels as-is and has no part.
        public var url: String?
        public var needsPart: Bool { url == nil }
    }

    public var envelope: [String: JSONValue]
    public var files: [File]

    /// Manifest entries that expect a part, in order (indices into `files`).
    public var uploadIndices: [Int] { files.indices.filter { files[$0].needsPart } }

    /// Declared bytes of the parts to come; `Int.max` when their sum does not fit (no store has room for it).
    public var declaredBytes: Int {
        var total = 0
        for index in uploadIndices {
            let (sum, overflow) = total.addingReportingOverflow(files[index].byteLength ?? 0)
            if overflow { return .max }
            total = sum
        }
        return total
    }

    public static func parse(_ json: JSONValue) throws(CastError) -> CastBinaryManifest {
        guard case .object(let root) = json else { throw CastError(400, "The first part must be the JSON publish envelope") }
        let event = root["event"]?.objectValue
        guard let topic = event?["hub.topic"]?.stringValue, !topic.isEmpty else {
            throw CastError(400, "Missing event.hub.topic for publish request")
        }
        guard let name = event?["hub.event"]?.stringValue, !name.isEmpty else {
            throw CastError(400, "Missing event.hub.event for publish request")
        }
        guard let entries = event?["context"]?["files"]?.arrayValue else {
            throw CastError(400, "A binary batch needs event.context.files[] describing its parts")
        }
        var files: [File] = []
        for (i, entry) in entries.enumerated() {
            guard let fileName = entry["fileName"]?.stringValue else {
                throw CastError(400, detail: [
                    "message": .string("files[\(i)] has no fileName"), "code": "missing_file_name", "fileName": "",
                ])
            }
            try CastFilenamePolicy.validate(fileName)
            if entry["data"] != nil {
                throw CastError(400, "files[\(i)] carries inline data; send the bytes as a part of the batch")
            }
            var byteLength: Int?
            switch entry["byteLength"] {
            case .int(let n)?:
                guard n >= 0 else { throw CastError(400, "files[\(i)].byteLength must not be negative") }
                byteLength = Int(n)
            case nil, .null?: byteLength = nil
            default: throw CastError(400, "files[\(i)].byteLength must be an integer")
            }
            let url = entry["url"]?.stringValue.flatMap { u in
                (u.lowercased().hasPrefix("http://") || u.lowercased().hasPrefix("https://")) ? u : nil
            }
            files.append(File(fileName: fileName, byteLength: byteLength, mimeType: entry["mimeType"]?.stringValue, url: url))
        }
        return CastBinaryManifest(envelope: root, files: files)
    }

    /// Part types the reference accepts: DICOM, octet-stream, NIfTI, or the entry's own mimeType.
    public static func acceptsPartType(_ type: String?, for file: File) -> Bool {
        guard let type = type?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased(), !type.isEmpty
        else { return true }
        if ["application/dicom", "application/octet-stream", "application/vnd.unknown.nifti-1"].contains(type) { return true }
        return type == file.mimeType?.lowercased()
    }

    /// Where one uploaded file went.
    public struct Stored: Sendable, Hashable {
        public var payloadIds: [String]
        public var chunkByteLengths: [Int]
        public var byteLength: Int
        public var expiresAt: String

        public init(payloadIds: [String], chunkByteLengths: [Int], byteLength: Int, expiresAt: String) {
            self.payloadIds = payloadIds
            self.chunkByteLengths = chunkByteLengths
            self.byteLength = byteLength
            self.expiresAt = expiresAt
        }
    }

    /// The envelope as fanned out: each uploaded entry without `data`, `url` and `payloadId`, with its stored total
    /// `byteLength`, and — when stored — `payloadIds`, `chunkByteLengths` and `expiresAt`. Over the store's cap,
    /// `stored` has no entry for a file and only its metadata goes out.
    public func rewritten(uploaded sizes: [Int: Int], stored: [Int: Stored]) -> JSONValue {
        var root = envelope
        guard case .object(var event)? = root["event"], case .object(var context)? = event["context"],
            case .array(var entries)? = context["files"]
        else { return .object(root) }
        for index in uploadIndices where index < entries.count {
            guard case .object(var entry) = entries[index] else { continue }
            entry.removeValue(forKey: "data")
            entry.removeValue(forKey: "url")
            entry.removeValue(forKey: "payloadId")
            if let size = sizes[index] { entry["byteLength"] = .int(Int64(size)) }
            if let s = stored[index] {
                entry["byteLength"] = .int(Int64(s.byteLength))
                entry["payloadIds"] = .array(s.payloadIds.map(JSONValue.string))
                entry["chunkByteLengths"] = .array(s.chunkByteLengths.map { .int(Int64($0)) })
                entry["expiresAt"] = .string(s.expiresAt)
            }
            entries[index] = .object(entry)
        }
        context["files"] = .array(entries)
        event["context"] = .object(context)
        root["event"] = .object(event)
        return .object(root)
    }
}
