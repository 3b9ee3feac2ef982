import Foundation

/// A file name from a message, made safe to create in a job or cache folder: its last path component only, no
/// leading dots, no control characters or separators, at most 128 characters; `fallback` when nothing is left.
public enum LocalFileName {
    public static func safe(_ name: String?, fallback: String) -> String {
        let last = (name ?? "").split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        var cleaned = String(last.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F && $0 != ":" }.map(Character.init))
        while cleaned.hasPrefix(".") { cleaned.removeFirst() }
        cleaned = String(cleaned.prefix(128)).trimmingCharacters(in: .whitespaces)
        return cleaned.isEmpty ? fallback : cleaned
    }

    /// `name`, or `name-2`, `name-3`… before its extension, whichever `taken` does not hold.
    public static func unique(_ name: String, taken: Set<String>) -> String {
        guard taken.contains(name) else { return name }
        let (stem, ext) = split(name)
        var n = 2
        while taken.contains("\(stem)-\(n)\(ext)") { n += 1 }
        return "\(stem)-\(n)\(ext)"
    }

    static func split(_ name: String) -> (String, String) {
        let lower = name.lowercased()
        for double in [".nii.gz", ".tar.gz"] where lower.hasSuffix(double) {
            return (String(name.dropLast(double.count)), String(name.suffix(double.count)))
        }
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return (name, "") }
        return (String(name[..<dot]), String(name[dot...]))
    }
}
