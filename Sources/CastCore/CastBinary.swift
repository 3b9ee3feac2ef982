import FHIRcastCore
import Foundation

/// A binary batch (cast-protocol.md §4.1): the JSON envelope of part 1, whose `event.context.files[]` is the
/// manifest of the parts that follow. Pure: validation and the rewriting of the envelope after storage.
public struct CastBinaryManifest: Sendable {
    public struct File: Sendable, Hashable {
        /// Empty when the entry has none (the reference asks only that some entry of the batch has one).
        public var fileName: String
        /// A non-negative integer `byteLength`, or nil: any other value is not checked, as on the reference.
        public var byteLength: Int?
        public var mimeType: String?
        /// An http(s) url entry (generation D) travels as-is and has no part.
        public var url: String?
        /// False for an element of `files[]` that is not an object: the reference skips it, and it has no part.
        public var isEntry = true
        public var needsPart: Bool { isEntry && url == nil }
    }

    public var envelope: [String: JSONValue]
    /// One per element of `context.files[]`, in order, so that indices are the envelope's.
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

    /// The envelope of a batch's JSON part, checked as the reference's `_parse_binary_batch_publish` checks it, with
    /// its messages (cast-protocol.md §4.1). Only the part checks (count, emptiness, content type, size) come later,
    /// as the parts arrive.
    public static func parse(_ json: JSONValue) throws(CastError) -> CastBinaryManifest {
        guard case .object(let root) = json else { throw CastError(400, "binary batch publish JSON must be an object") }
        guard case .object(let event)? = root["event"] else { throw CastError(400, "binary batch publish JSON missing event object") }
        guard let name = event["hub.event"]?.stringValue, CastHubState.isBinaryEvent(name) else {
            throw CastError(
                400,
                "binary batch publish publish is only supported for binary-family events (hub.event starting with dicom, nifti, jpg, png, or nrrd)")
        }
        let elements = event["context"]?["files"]?.arrayValue ?? []
        var files: [File] = []
        for element in elements {
            guard case .object(let entry) = element else {
                files.append(File(fileName: "", byteLength: nil, mimeType: nil, url: nil, isEntry: false))
                continue
            }
            var byteLength: Int?
            if case .int(let n)? = entry["byteLength"], n >= 0 { byteLength = Int(n) }
            let url = entry["url"]?.stringValue.flatMap { u -> String? in
                let lower = u.trimmingCharacters(in: .whitespaces).lowercased()
                return lower.hasPrefix("http://") || lower.hasPrefix("https://") ? u : nil
            }
            let fileName = entry["fileName"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            files.append(File(fileName: fileName, byteLength: byteLength, mimeType: entry["mimeType"]?.stringValue, url: url))
        }
        guard files.contains(where: \.isEntry) else {
            throw CastError(400, "binary batch publish publish requires non-empty event.context.files[]")
        }
        // `_enforce_binary_transfer_filenames(require_name=True)`: some entry must be named, and every name must pass.
        let names = files.map(\.fileName).filter { !$0.isEmpty }
        guard !names.isEmpty else {
            throw CastError(400, detail: ["message": "binary transfer requires context.files[].fileName", "code": "missing_file_name", "fileName": ""])
        }
        for fileName in names { try CastFilenamePolicy.validate(fileName) }
        guard let topic = event["hub.topic"]?.stringValue, !topic.isEmpty else {
            throw CastError(400, "Missing event.hub.topic for publish request")
        }
        for (i, element) in elements.enumerated() where element["data"] != nil {
            throw CastError(400, "files[\(i)] carries inline data; send the bytes as a part of the batch")
        }
        return CastBinaryManifest(envelope: root, files: files)
    }

    /// What the reference reads as a part's type: the media type, lower-cased, without parameters; `text/plain` when
    /// the part has none (Python's `email` default).
    public static func mediaType(_ type: String?) -> String {
        let media = type?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        return media.isEmpty ? "text/plain" : media
    }

    /// The type a file's part may have besides DICOM, octet-stream and NIfTI: `str(mimeType or
    /// "application/octet-stream").strip().lower()` up to any `;`, as the reference computes it. Empty for a blank one.
    public static func expectedType(for file: File) -> String {
        guard let declared = file.mimeType, !declared.isEmpty else { return "application/octet-stream" }
        let lower = declared.trimmingCharacters(in: .whitespaces).lowercased()
        return lower.split(separator: ";", omittingEmptySubsequences: false).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    }

    /// Part types the reference accepts: DICOM, octet-stream, NIfTI, or the entry's own `mimeType`.
    public static func acceptsPartType(_ type: String?, for file: File) -> Bool {
        let media = mediaType(type)
        let expected = expectedType(for: file)
        return ["application/dicom", "application/octet-stream", "application/vnd.unknown.nifti-1"].contains(media)
            || (!expected.isEmpty && media == expected)
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
