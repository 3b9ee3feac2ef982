import FHIRcastCore
import Foundation

/// Where an `imagingstudy-open` says the study is, read the way the reference image display reads it
/// (`cast_slicer_image_display/lib/imaging_study_context.py`): the `study` context entry's ImagingStudy, its
/// identifiers (`urn:cast:open-mode`, `urn:dicom:uid`, `urn:cast:dicomweb-root`), and a `files` entry's list.
public struct ImagingStudyOpen: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable {
        /// WADO-RS from a DICOMweb server: the study (or one series) by UID.
        case dicomweb
        /// DICOM files at http(s) URLs.
        case dicomURL = "dicom-url"
        /// Files carried in the event: http(s) URLs or base64 data (DICOM, NIfTI, NRRD…).
        case files
    }

    public var mode: Mode
    /// The study's id for people and for the cache folder: the resource id, else its UID.
    public var studyID: String
    public var studyUID: String?
    public var seriesUID: String?
    public var dicomwebRoot: String?
    public var files: [FileRef]

    /// A file named in the event.
    public struct FileRef: Sendable, Hashable {
        public var fileName: String?
        public var mimeType: String?
        public var url: String?
        /// Base64.
        public var data: String?
    }

    public struct Unusable: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Reads the plan from an event's context (a FHIRcast list, or the object form some Cast apps send).
    /// - Parameter defaultDICOMwebRoot: the DICOMweb server to use when the event names a study UID but no root
    ///   (an EHR's ImagingStudy-open names the study, not where the viewer reads it).
    public static func plan(context: JSONValue, defaultDICOMwebRoot: String? = nil) throws(Unusable) -> ImagingStudyOpen {
        let items = Self.items(context)
        let study = resource(items, key: "study")
        let identifiers = study?["identifier"]?.arrayValue ?? []
        func identifier(_ system: String) -> String? {
            for id in identifiers where id["system"]?.stringValue?.trimmingCharacters(in: .whitespaces).lowercased() == system {
                if let value = id["value"]?.stringValue?.trimmingCharacters(in: .whitespaces), !value.isEmpty { return value }
            }
            return nil
        }
        let studyUID = uid(study?["uid"]?.stringValue) ?? uid(identifier("urn:dicom:uid"))
        let seriesUID = uid(resource(items, key: "series")?["uid"]?.stringValue) ?? uid(study?["series"]?.arrayValue?.first?["uid"]?.stringValue)
        let files = (resource(items, key: "files")?["files"]?.arrayValue ?? []).compactMap(fileRef)
        let root = httpURL(identifier("urn:cast:dicomweb-root")).map { String($0.reversed().drop(while: { $0 == "/" }).reversed()) }
        let studyID = study?["id"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? studyUID ?? "study"

        let mode: Mode
        switch identifier("urn:cast:open-mode") {
        case "dicomweb"?: mode = .dicomweb
        case "dicom-url"?: mode = .dicomURL
        case "files"?: mode = .files
        case let other?: throw Unusable(description: "the open mode \(other) is not one this display takes (dicomweb, dicom-url, files)")
        case nil:
            if !files.isEmpty { mode = .files } else if studyUID != nil { mode = .dicomweb } else {
                throw Unusable(description: "the event names no study: no ImagingStudy with a DICOM UID, and no files")
            }
        }
        var plan = ImagingStudyOpen(mode: mode, studyID: studyID, studyUID: studyUID, seriesUID: seriesUID, dicomwebRoot: root ?? defaultDICOMwebRoot, files: files)
        switch mode {
        case .dicomweb:
            guard plan.studyUID != nil else { throw Unusable(description: "a dicomweb open needs the study's DICOM UID") }
            guard plan.dicomwebRoot != nil else {
                throw Unusable(description: "a dicomweb open needs a DICOMweb root: urn:cast:dicomweb-root in the event, or the display's --dicomweb-root")
            }
        case .dicomURL, .files:
            guard !files.isEmpty else { throw Unusable(description: "a \(mode.rawValue) open needs at least one file with an http(s) url or data") }
            if mode == .dicomURL, files.contains(where: { $0.url == nil }) {
                throw Unusable(description: "a dicom-url open needs an http(s) url for every file")
            }
        }
        plan.dicomwebRoot = mode == .dicomweb ? plan.dicomwebRoot : nil
        return plan
    }

    static func items(_ context: JSONValue) -> [JSONValue] {
        switch context {
        case .array(let list): return list
        case .object(let object):
            // `{study: {…}, files: {…}}`: each object value as an entry keyed by its name.
            return object.sorted { $0.key < $1.key }.compactMap { key, value in
                value.objectValue == nil ? nil : .object(["key": .string(key), "resource": value])
            }
        default: return []
        }
    }

    static func resource(_ items: [JSONValue], key: String) -> JSONValue? {
        for item in items where item["key"]?.stringValue?.trimmingCharacters(in: .whitespaces).lowercased() == key {
            if let resource = item["resource"], resource.objectValue != nil { return resource }
        }
        return nil
    }

    static func uid(_ text: String?) -> String? {
        guard var value = text?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if value.lowercased().hasPrefix("urn:oid:") { value = String(value.dropFirst(8)) }
        // A DICOM UID is digits and dots; anything else must not reach a URL path.
        guard value.count <= 64, value.allSatisfy({ $0 == "." || ("0"..."9").contains($0) }) else { return nil }
        return value
    }

    static func httpURL(_ text: String?) -> String? {
        guard let text, text.hasPrefix("http://") || text.hasPrefix("https://") else { return nil }
        return text
    }

    static func fileRef(_ json: JSONValue) -> FileRef? {
        guard json.objectValue != nil else { return nil }
        let url = httpURL(json["url"]?.stringValue ?? json["uri"]?.stringValue)
        let data = json["data"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        guard url != nil || data != nil else { return nil }
        return FileRef(
            fileName: json["fileName"]?.stringValue ?? json["filename"]?.stringValue, mimeType: json["mimeType"]?.stringValue, url: url, data: data)
    }
}
