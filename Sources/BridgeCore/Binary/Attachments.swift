import CastCore
import Crypto
import FHIRcastCore
import Foundation

/// Limits and options for binary content crossing the bridge (the `binary:` section of the mapping files).
public struct BinaryPolicy: Sendable, Hashable {
    /// Cast → FHIRcast: files up to this size also carry their bytes as base64 `data` (0: never).
    public var inlineMaxBytes = 0
    /// FHIRcast → Cast: the largest file, and the largest batch.
    public var maxFileBytes = 512 << 20
    public var maxBatchBytes = 2 << 30

    public init() {}
}

/// One file of a Cast binary event as fanned out (cast-protocol.md §4.1): stored chunks, or an http(s) url.
public struct CastFile: Sendable, Hashable {
    public var fileName: String
    public var mimeType: String?
    public var byteLength: Int?
    public var payloadIds: [String]
    public var chunkByteLengths: [Int]
    public var expiresAt: String?
    public var url: String?

    /// The files of a binary event's object context; the legacy singular `payloadId` counts as one chunk.
    public static func files(in context: JSONValue?) -> [CastFile] {
        (context?["files"]?.arrayValue ?? []).compactMap { entry in
            guard let name = entry["fileName"]?.stringValue else { return nil }
            var ids = entry["payloadIds"]?.arrayValue?.compactMap(\.stringValue) ?? []
            if ids.isEmpty, let single = entry["payloadId"]?.stringValue { ids = [single] }
            let lengths = entry["chunkByteLengths"]?.arrayValue?.compactMap { v -> Int? in
                if case .int(let i) = v { return Int(i) }
                return nil
            } ?? []
            var size: Int?
            if case .int(let n)? = entry["byteLength"] { size = Int(n) }
            return CastFile(
                fileName: name, mimeType: entry["mimeType"]?.stringValue, byteLength: size, payloadIds: ids,
                chunkByteLengths: lengths, expiresAt: entry["expiresAt"]?.stringValue, url: entry["url"]?.stringValue)
        }
    }
}

/// A file a FHIRcast event carries towards Cast.
public struct OutgoingFile: Sendable, Hashable {
    public enum Source: Sendable, Hashable {
        case bytes([UInt8])
        case url(String)
    }

    /// A name the Cast file-name allowlist accepts.
    public var fileName: String
    public var mimeType: String
    public var source: Source

    public var byteLength: Int? {
        if case .bytes(let b) = source { return b.count }
        return nil
    }
}

extension [OutgoingFile] {
    /// The bytes these files carry inline (url entries carry none): what they weigh in the bridge's queue.
    public var inlineBytes: Int { reduce(0) { $0 + ($1.byteLength ?? 0) } }
}

/// FHIR Attachments ⇄ Cast binary manifests. Pure: the bytes of inline data are in memory already (they came in a
/// JSON body, bounded by the body limit); streamed content is the edges' business.
public enum Attachments {
    /// The context entries describing Cast files on the FHIRcast side: one `{"key": "file", "attachment": …}` per
    /// file, in manifest order. `url(i)` is where castbridge serves file `i`; `sha1(i)` its SHA-1 (base64), when known;
    /// `data(i)` its bytes, when they are to travel inline.
    public static func entries(
        for files: [CastFile], url: (Int) -> String?, sha1: (Int) -> String?, data: (Int) -> [UInt8]?
    ) -> [JSONValue] {
        files.enumerated().map { i, file in
            var a: [String: JSONValue] = ["title": .string(file.fileName)]
            if let type = file.mimeType { a["contentType"] = .string(type) }
            if let size = file.byteLength { a["size"] = .int(Int64(size)) }
            if let link = url(i) ?? file.url { a["url"] = .string(link) }
            if let hash = sha1(i) { a["hash"] = .string(hash) }
            if let bytes = data(i) { a["data"] = .string(Data(bytes).base64EncodedString()) }
            return ["key": "file", "attachment": .object(a)]
        }
    }

    /// A FHIRcast notification with these entries put first in its context.
    public static func inserting(_ entries: [JSONValue], into notification: JSONValue) -> JSONValue {
        guard !entries.isEmpty, case .object(var root) = notification, case .object(var event)? = root["event"] else {
            return notification
        }
        event["context"] = .array(entries + (event["context"]?.arrayValue ?? []))
        root["event"] = .object(event)
        return .object(root)
    }

    /// SHA-1 of bytes, base64: the form of `Attachment.hash`.
    public static func sha1(_ bytes: some DataProtocol) -> String {
        Data(Insecure.SHA1.hash(data: bytes)).base64EncodedString()
    }

    /// The files of a FHIRcast context bound for Cast: `attachment` entries (base64 `data` or an http(s) `url`) and
    /// `Binary` resources (`data`). Declared `size` and `hash` must match the bytes; the policy's caps apply.
    /// Every failure is a 400 or 413 naming the entry.
    public static func outgoing(from context: [JSONValue], policy: BinaryPolicy) throws(HubError) -> [OutgoingFile] {
        var files: [OutgoingFile] = []
        var total = 0
        for (i, item) in context.enumerated() {
            let key = item["key"]?.stringValue ?? "?"
            let what = "context[\(i)] ('\(key)')"
            let body: [String: JSONValue]
            if case .object(let a)? = item["attachment"] {
                body = a
            } else if case .object(let r)? = item["resource"], r["resourceType"]?.stringValue == "Binary" {
                body = r
            } else {
                continue
            }
            let contentType = body["contentType"]?.stringValue ?? "application/octet-stream"
            let title = body["title"]?.stringValue
            let source: OutgoingFile.Source
            if let encoded = body["data"]?.stringValue {
                guard let decoded = Data(base64Encoded: encoded, options: .ignoreUnknownCharacters) else {
                    throw .badRequest("\(what): 'data' is not base64")
                }
                let bytes = [UInt8](decoded)
                // Cast hubs refuse an empty file part ("binary batch publish file part N is empty").
                guard !bytes.isEmpty else { throw .badRequest("\(what): 'data' is empty; Cast does not accept empty files") }
                if bytes.count > policy.maxFileBytes {
                    throw .tooLarge("\(what) is \(bytes.count) bytes; the limit is \(policy.maxFileBytes) bytes per file (binary.maxFileBytes)")
                }
                if case .int(let declared)? = body["size"], Int(declared) != bytes.count {
                    throw .badRequest("\(what): 'size' says \(declared) bytes but 'data' holds \(bytes.count)")
                }
                if let declared = body["hash"]?.stringValue, declared != sha1(bytes) {
                    throw .badRequest("\(what): 'hash' is not the SHA-1 of 'data'")
                }
                total += bytes.count
                if total > policy.maxBatchBytes {
                    throw .tooLarge("the files of this event exceed \(policy.maxBatchBytes) bytes together (binary.maxBatchBytes)")
                }
                source = .bytes(bytes)
            } else if let link = body["url"]?.stringValue, link.lowercased().hasPrefix("http://") || link.lowercased().hasPrefix("https://") {
                source = .url(link)
            } else {
                throw .badRequest("\(what) has neither base64 'data' nor an http(s) 'url'")
            }
            files.append(OutgoingFile(fileName: try fileName(title: title, contentType: contentType, index: files.count, what: what), mimeType: contentType, source: source))
        }
        return files
    }

    /// The `files[]` manifest of a Cast binary event for these files (byteLength exact; url entries as they are).
    public static func manifest(_ files: [OutgoingFile]) -> JSONValue {
        ["files": .array(files.map { file in
            var entry: [String: JSONValue] = ["fileName": .string(file.fileName), "mimeType": .string(file.mimeType)]
            switch file.source {
            case .bytes(let b): entry["byteLength"] = .int(Int64(b.count))
            case .url(let u): entry["url"] = .string(u)
            }
            return .object(entry)
        })]
    }

    /// Suffixes for content types, for titles that lack an allowed one.
    static let suffixes: [String: String] = [
        "application/dicom": ".dcm", "application/dicom+json": ".dcm", "image/png": ".png", "image/jpeg": ".jpg",
        "image/tiff": ".tif", "image/bmp": ".bmp", "application/zip": ".zip", "application/gzip": ".gz",
        "application/x-tar": ".tar", "application/vnd.unknown.nifti-1": ".nii", "application/x-nifti": ".nii",
        "application/nrrd": ".nrrd", "text/x-nrrd": ".nrrd",
    ]

    /// A name that passes the Cast allowlist (cast-protocol.md §4.1): the title's basename with unsafe characters
    /// and dangerous inner extensions neutralised, and a suffix from the content type when it has no allowed one.
    static func fileName(title: String?, contentType: String, index: Int, what: String) throws(HubError) -> String {
        var base = (title ?? "").split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        base = String(base.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" ? $0 : "_" })
        while base.hasPrefix(".") { base.removeFirst() }
        base = base.replacingOccurrences(of: "..", with: "_")
        let lower = base.lowercased()
        var suffix = CastFilenamePolicy.allowedSuffixes.first { lower.hasSuffix($0) && lower.count > $0.count }
        if suffix == nil {
            let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard let fromType = suffixes[type] else {
                throw .badRequest(
                    "\(what): Cast accepts only \(CastFilenamePolicy.allowedSuffixes.joined(separator: " ")) files; give it a 'title' with one of these suffixes or a known contentType (got '\(contentType)')")
            }
            if base.isEmpty { base = "file-\(index + 1)" }
            base += fromType
            suffix = fromType
        }
        guard let suffix else { return base }
        // Inner dots become underscores, so that no inner extension (scan.exe.dcm) is left.
        let stem = String(base.dropLast(suffix.count)).replacingOccurrences(of: ".", with: "_")
        var name = (stem.isEmpty ? "file-\(index + 1)" : stem) + String(base.suffix(suffix.count))
        if name.count > 255 { name = String(name.prefix(255 - suffix.count)) + suffix }
        do {
            try CastFilenamePolicy.validate(name)
        } catch {
            throw .badRequest("\(what): no valid Cast file name could be made from '\(title ?? "")'")
        }
        return name
    }
}
