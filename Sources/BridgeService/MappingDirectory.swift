import FHIRcastService
import ServiceSupport
import BridgeCore
import Foundation

/// Reads the mapping files of a directory (`*.yaml`, `*.yml`, in name order), or one file, for `MappingFile`.
public enum MappingDirectory {
    public struct Loaded: Sendable {
        public var mappings: MappingSet
        public var files: [String]
    }

    /// The rules in `path`: a directory's mapping files, or one file. Errors name the file (as `path/name`), the line
    /// and the problem.
    public static func load(_ path: String) throws(MappingErrors) -> Loaded {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw MappingErrors(errors: [MappingError(file: path, "no such file or directory")])
        }
        if !isDirectory.boolValue {
            guard path.hasSuffix(".yaml") || path.hasSuffix(".yml") else {
                throw MappingErrors(errors: [MappingError(file: path, "is not a mapping file (*.yaml, *.yml) or a directory of them")])
            }
            return try read([path], in: path)
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                .filter { !$0.hasPrefix(".") }
                .sorted()
        } catch {
            throw MappingErrors(errors: [MappingError(file: path, "cannot list the directory: \(error.localizedDescription)")])
        }
        return try read(names.map { (path as NSString).appendingPathComponent($0) }, in: path)
    }

    /// Reads and checks these files together (`place`: the directory or file named, for an error about none).
    private static func read(_ paths: [String], in place: String) throws(MappingErrors) -> Loaded {
        var files: [(name: String, text: String)] = []
        var errors: [MappingError] = []
        for file in paths {
            guard let data = FileManager.default.contents(atPath: file) else {
                errors.append(MappingError(file: file, "cannot be read"))
                continue
            }
            guard let text = String(data: data, encoding: .utf8) else {
                errors.append(MappingError(file: file, "is not UTF-8 text"))
                continue
            }
            files.append((file, text))
        }
        if files.isEmpty && errors.isEmpty {
            throw MappingErrors(errors: [MappingError(file: place, "no mapping files (*.yaml, *.yml) in this directory")])
        }
        switch MappingFile.load(files) {
        case .success(let set):
            guard errors.isEmpty else { throw MappingErrors(errors: errors) }
            return Loaded(mappings: set, files: files.map(\.name))
        case .failure(let failure):
            throw MappingErrors(errors: errors + failure.errors)
        }
    }
}
