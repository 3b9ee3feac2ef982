import CastbridgeServer
import Foundation
import Testing
import Yams

/// Docs/openapi.yaml (issue #16) is kept true: it is OpenAPI 3.1, every operation says what it answers, and its paths
/// and methods are exactly the routes the server's sources register.
struct OpenAPIDocumentTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

    static func document() throws -> [String: Any] {
        let text = try String(contentsOf: root.appendingPathComponent("Docs/openapi.yaml"), encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    static let methods = ["get", "post", "put", "delete", "patch", "options", "head"]

    /// `METHOD /path` with `{name}` parameters written `:`.
    static func documented(_ document: [String: Any]) throws -> Set<String> {
        let paths = try #require(document["paths"] as? [String: Any])
        var routes: Set<String> = []
        for (path, item) in paths {
            let operations = try #require(item as? [String: Any])
            for method in methods where operations[method] != nil {
                let normalized = path.replacingOccurrences(of: #"\{([^}]+)\}"#, with: ":$1", options: .regularExpression)
                routes.insert("\(method.uppercased()) \(normalized)")
            }
        }
        return routes
    }

    /// Every `router.<method>("path")` in Sources, `\(base)` standing for both FHIRcast flavors.
    static func registered() throws -> Set<String> {
        var routes: Set<String> = []
        let sources = root.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(atPath: sources.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") && !$0.hasPrefix("castbridge-bench") } ?? []
        let call = try NSRegularExpression(pattern: #"router\.(get|post|put|delete|patch|head)\("([^"]*)"\)|router\.on\("([^"]*)", method: \.(\w+)\)|router\.post\(RouterPath\(base\)\)"#)
        for file in files {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for match in call.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                func group(_ i: Int) -> String? { Range(match.range(at: i), in: text).map { String(text[$0]) } }
                let (method, path): (String, String)
                if let m = group(1), let p = group(2) {
                    (method, path) = (m, p)
                } else if let p = group(3), let m = group(4) {
                    (method, path) = (m, p)
                } else {
                    (method, path) = ("post", #"\(base)"#)
                }
                for base in ["fhircast/STU3", "fhircast/STU2"] {
                    let concrete = "/" + path.replacingOccurrences(of: #"\(base)"#, with: base).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
                    routes.insert("\(method.uppercased()) \(concrete)")
                    if !path.contains(#"\(base)"#) { break }
                }
            }
        }
        return routes
    }

    @Test("Docs/openapi.yaml is OpenAPI 3.1 at castbridge's version; every operation has answers, an id, and its path parameters declared")
    func wellFormed() throws {
        let document = try Self.document()
        #expect((document["openapi"] as? String)?.hasPrefix("3.1.") == true)
        #expect((document["info"] as? [String: Any])?["version"] as? String == CastbridgeVersion.current)
        var ids: Set<String> = []
        for (path, item) in try #require(document["paths"] as? [String: Any]) {
            let operations = try #require(item as? [String: Any])
            let shared = (operations["parameters"] as? [[String: Any]]) ?? []
            for method in Self.methods {
                guard let operation = operations[method] as? [String: Any] else { continue }
                let responses = operation["responses"] as? [String: Any] ?? [:]
                #expect(!responses.isEmpty, "\(method) \(path) says nothing of its answers")
                let id = operation["operationId"] as? String
                #expect(id != nil && !ids.contains(id ?? ""), "\(method) \(path): a missing or repeated operationId")
                ids.insert(id ?? "")
                let declared = (shared + ((operation["parameters"] as? [[String: Any]]) ?? [])).compactMap { p -> String? in
                    if let name = p["name"] as? String { return name }
                    if let ref = p["$ref"] as? String { return ref.hasSuffix("/Topic") ? "topic" : nil }
                    return nil
                }
                for parameter in path.matches(of: /\{([^}]+)\}/).map({ String($0.1) }) {
                    #expect(declared.contains(parameter), "\(method) \(path): {\(parameter)} is not declared")
                }
            }
        }
    }

    @Test("Docs/openapi.yaml names exactly the routes the server registers, no more, no fewer")
    func matchesRoutes() throws {
        let documented = try Self.documented(try Self.document())
        let registered = try Self.registered()
        #expect(registered.count > 30, "the route scan found too few routes: \(registered.sorted())")
        #expect(registered.subtracting(documented).isEmpty, "routes missing from Docs/openapi.yaml: \(registered.subtracting(documented).sorted())")
        #expect(documented.subtracting(registered).isEmpty, "documented routes the server does not have: \(documented.subtracting(registered).sorted())")
    }
}
