import FHIRcastCore
import Foundation

/// The transfer file-name allowlist of binary events (cast-protocol.md §4.1): plain basenames with an allowed
/// suffix and no dangerous inner extension. Failures are 400 `{message, code, fileName}`.
public enum CastFilenamePolicy {
    /// Longest first, so that `.nii.gz` wins over `.gz`.
    public static let allowedSuffixes = [
        ".nii.gz", ".tar.gz", ".dicom", ".jpeg", ".tiff", ".nrrd", ".nii", ".dcm", ".dic", ".png", ".jpg", ".tif",
        ".bmp", ".zip", ".tar", ".gz",
    ]

    /// Inner segments that must not stand before the allowed suffix (`scan.exe.dcm`).
    static let dangerousInnerParts: Set<String> = [
        "exe", "com", "scr", "pif", "msi", "msp", "bat", "cmd", "ps1", "psm1", "vbs", "vbe", "js", "jse", "wsf", "wsh",
        "hta", "jar", "dll", "sys", "drv", "ocx", "sh", "bash", "zsh", "php", "asp", "aspx", "jsp", "py", "rb", "pl",
        "reg", "inf", "lnk", "app", "deb", "rpm", "dmg", "apk",
    ]

    static func refuse(_ message: String, code: String, fileName: String) -> CastError {
        CastError(400, detail: ["message": .string(message), "code": .string(code), "fileName": .string(fileName)])
    }

    /// The reference's `validate_transfer_filename` (`Lib/cast_filename_policy.py`), rule for rule: the same checks
    /// in the same order, the same messages and codes. Lengths count Unicode scalars, as Python's `len` does.
    public static func validate(_ fileName: String) throws(CastError) {
        let name = fileName.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty else { throw refuse("transfer filename is empty", code: "empty_file_name", fileName: fileName) }
        if name.contains("\0") {
            throw refuse("transfer filename contains null byte", code: "invalid_file_name", fileName: fileName)
        }
        if name.contains("/") || name.contains("\\") || name.contains("..") {
            throw refuse("transfer filename must be a plain basename without path segments", code: "invalid_file_name", fileName: fileName)
        }
        if name.hasPrefix(".") {
            throw refuse("transfer filename must not start with '.'", code: "invalid_file_name", fileName: fileName)
        }
        if name.unicodeScalars.count > 255 { throw refuse("transfer filename is too long", code: "invalid_file_name", fileName: fileName) }
        let lower = name.lowercased()
        // The longest allowed suffix the name ends with decides; an empty stem before it is refused outright.
        guard let suffix = allowedSuffixes.first(where: { lower.hasSuffix($0) }) else {
            throw refuse("transfer filename suffix not in allowlist: '\(name)'", code: "unsupported_file_extension", fileName: name)
        }
        let stem = String(lower.dropLast(suffix.count))
        guard !stem.isEmpty, stem != "." else {
            throw refuse("transfer filename has no name before suffix '\(suffix)'", code: "invalid_file_name", fileName: lower)
        }
        try checkInnerExtensions(stem, fileName: name)
    }

    /// `_check_double_extension`: only a stem that itself holds a dot has inner extensions. `py.dcm` and `exe.dcm`
    /// are names (stem `py`), `js.nii.gz` too; `evil.exe.dcm` has the inner extension `.exe`.
    static func checkInnerExtensions(_ stem: String, fileName: String) throws(CastError) {
        guard stem.contains(".") else { return }
        for part in stem.split(separator: ".") where dangerousInnerParts.contains(String(part)) {
            throw refuse("transfer filename has disallowed inner extension .\(part)", code: "double_extension", fileName: fileName)
        }
    }

    /// Checks every `context.files[].fileName` of an envelope.
    public static func validateFiles(of envelope: [String: JSONValue]) throws(CastError) {
        for entry in envelope["event"]?["context"]?["files"]?.arrayValue ?? [] {
            guard let name = entry["fileName"]?.stringValue else { continue }
            try validate(name)
        }
    }
}
