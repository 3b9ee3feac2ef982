import FHIRcastCore
import Foundation
import Testing

@testable import CastCore

/// The transfer file-name policy against the reference's `Lib/cast_filename_policy.py` (issue #21, item 1).
@Suite("File-name policy, as the reference")
struct FilenamePolicyTests {
    /// The error's code and message, or nil when the name is accepted.
    static func refusal(_ name: String) -> (code: String, message: String, fileName: String)? {
        do {
            try CastFilenamePolicy.validate(name)
            return nil
        } catch {
            return (error.detail["code"]?.stringValue ?? "", error.detail["message"]?.stringValue ?? "", error.detail["fileName"]?.stringValue ?? "")
        }
    }

    @Test("Issue 21: a dangerous word is only an inner extension when the stem itself holds a dot: py.dcm, exe.dcm and js.nii.gz pass")
    func innerExtensionsNeedADot() {
        for ok in ["py.dcm", "exe.dcm", "js.nii.gz", "SH.DCM", "bat.tar.gz", "py_exe.dcm", "1.2.840.113619.dcm", "report.final.png"] {
            #expect(Self.refusal(ok) == nil, "\(ok)")
        }
        let refused: [(String, String)] = [
            ("evil.exe.dcm", ".exe"), ("a.py.dcm", ".py"), ("x.Py.dcm", ".py"), ("py.exe.dcm", ".py"), ("scan.JS.nii.gz", ".js"),
            ("a.b.sh.png", ".sh"),
        ]
        for (name, part) in refused {
            let r = Self.refusal(name)
            #expect(r?.code == "double_extension", "\(name)")
            #expect(r?.message == "transfer filename has disallowed inner extension \(part)", "\(name): \(r?.message ?? "accepted")")
            #expect(r?.fileName == name.trimmingCharacters(in: .whitespacesAndNewlines), "\(name)")
        }
    }

    @Test("Issue 21: the other rules in the reference's order, with its messages, codes and fileName values")
    func otherRules() {
        let cases: [(String, String, String, String)] = [
            ("", "empty_file_name", "transfer filename is empty", ""),
            (" \n\t", "empty_file_name", "transfer filename is empty", " \n\t"),
            ("a\0.dcm", "invalid_file_name", "transfer filename contains null byte", "a\0.dcm"),
            ("a/b.dcm", "invalid_file_name", "transfer filename must be a plain basename without path segments", "a/b.dcm"),
            ("a\\b.dcm", "invalid_file_name", "transfer filename must be a plain basename without path segments", "a\\b.dcm"),
            ("a..dcm", "invalid_file_name", "transfer filename must be a plain basename without path segments", "a..dcm"),
            (".dcm", "invalid_file_name", "transfer filename must not start with '.'", ".dcm"),
            ("virus.exe", "unsupported_file_extension", "transfer filename suffix not in allowlist: 'virus.exe'", "virus.exe"),
            ("Scan.DCM.txt", "unsupported_file_extension", "transfer filename suffix not in allowlist: 'Scan.DCM.txt'", "Scan.DCM.txt"),
        ]
        for (name, code, message, fileName) in cases {
            let r = Self.refusal(name)
            #expect(r?.code == code, "\(name.debugDescription)")
            #expect(r?.message == message, "\(name.debugDescription): \(r?.message ?? "accepted")")
            #expect(r?.fileName == fileName, "\(name.debugDescription): \(r?.fileName ?? "accepted")")
        }
        // Surrounding white space, newlines included, is trimmed as Python's strip() does.
        #expect(Self.refusal("  scan.dcm\n") == nil)
    }

    @Test("Issue 21: the 255 limit counts Unicode scalars, as Python's len does")
    func lengthInScalars() {
        let base = String(repeating: "a", count: 251)
        #expect(Self.refusal(base + ".dcm") == nil)  // 255
        #expect(Self.refusal(base + "a.dcm")?.message == "transfer filename is too long")  // 256
        // "é" as e + a combining accent: one Character in Swift, two scalars (two code points) in Python.
        let combining = String(repeating: "e\u{0301}", count: 126)  // 252 scalars, 126 Characters
        #expect(Self.refusal(combining + ".dcm")?.message == "transfer filename is too long")
    }
}
