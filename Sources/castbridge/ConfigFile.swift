import ArgumentParser
import Foundation
import Yams

/// `--config FILE`: every option of `castbridge serve` can also come from a YAML file, keyed by the option's name
/// without its dashes (`max-lease: 3600`, `cors-origins: [https://a.example, https://b.example]`, `no-bridge: true`).
/// A flag wins over the environment, the environment over the file, the file over the default (Docs/operations.md).
enum ConfigFile {
    /// The file's options as the environment variables they stand for (`max-lease` → `CASTBRIDGE_MAX_LEASE`).
    /// Throws, naming the file and the key, for a file that cannot be read or parsed, or a key no option has.
    static func environment(from path: String, options: Set<String>) throws -> [String: String] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("--config: cannot read \(path): \(error.localizedDescription)")
        }
        let parsed: Any?
        do {
            parsed = try Yams.load(yaml: text)
        } catch {
            throw ValidationError("--config: \(path) is not valid YAML: \(error)")
        }
        guard let parsed else { return [:] }
        guard let map = parsed as? [String: Any] else {
            throw ValidationError("--config: \(path) must be a mapping of option names to values, such as 'port: 8080'")
        }
        var environment: [String: String] = [:]
        for (key, value) in map {
            guard options.contains(key) else {
                let near = options.filter { $0.hasPrefix(String(key.prefix(3))) }.sorted()
                throw ValidationError(
                    "--config: \(path) has the key '\(key)', which is no option of castbridge serve"
                        + (near.isEmpty ? "" : " (did you mean \(near.joined(separator: ", "))?)") + "; 'castbridge serve --help' lists them")
            }
            environment["CASTBRIDGE_" + key.uppercased().replacingOccurrences(of: "-", with: "_")] = try scalar(value, key: key, path: path)
        }
        return environment
    }

    private static func scalar(_ value: Any, key: String, path: String) throws -> String {
        switch value {
        case let b as Bool: return b ? "true" : "false"
        case let i as Int: return String(i)
        case let d as Double: return String(d)
        case let s as String: return s
        case let list as [Any]: return try list.map { try scalar($0, key: key, path: path) }.joined(separator: ",")
        default:
            throw ValidationError("--config: \(path): '\(key)' must be a value or a list of values, not a mapping")
        }
    }

    /// The option names of a parsed command: its properties' names in kebab-case, as ArgumentParser spells its flags
    /// (`castJWTSecret` → `cast-jwt-secret`).
    static func optionNames(of command: some ParsableArguments) -> Set<String> {
        Set(
            Mirror(reflecting: command).children.compactMap { child in
                child.label.map { kebab(String($0.drop(while: { $0 == "_" }))) }
            })
    }

    static func kebab(_ name: String) -> String {
        var words: [String] = []
        var current = ""
        let chars = Array(name)
        for (i, c) in chars.enumerated() {
            let startsWord =
                c.isUppercase && !current.isEmpty
                && (!(chars[i - 1].isUppercase) || (i + 1 < chars.count && chars[i + 1].isLowercase))
            if startsWord {
                words.append(current)
                current = ""
            }
            current.append(c)
        }
        if !current.isEmpty { words.append(current) }
        return words.map { $0.lowercased() }.joined(separator: "-")
    }
}
