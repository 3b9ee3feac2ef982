import FHIRcastCore
import Yams

/// A problem in a mapping file, located: `mappings/site.yaml:12:5: events[3].cast: ...`.
public struct MappingError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var message: String

    public init(file: String, line: Int? = nil, column: Int? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        var place = file
        if let line { place += ":\(line)" }
        if let column { place += ":\(column)" }
        return "\(place): \(message)"
    }
}

/// Reads mapping files (YAML) into a `MappingSet`. Pure: the caller reads the files.
///
/// Schema (Docs/mappings.md):
///
///     unmappedFHIRcast: lowercase | drop     # optional, at most one file
///     events:
///       - fhircast: ImagingStudy-open
///         cast: imagingstudy-open
///         direction: both | to-cast | to-fhircast      # optional, default both
///     requests:
///       - dataType: STATUS
///         action: answer-from-context | forward | ignore
///         cast: status-request                        # optional, default <datatype>-request
///         fhircast: org.example.status_request        # forward only: the FHIRcast event to deliver
///         actor: WORKLIST_CLIENT                      # optional: the actor the bridge answers as
public enum MappingFile {
    /// Parses files in the order given (callers sort them by name). Every problem is reported, not just the first.
    public static func load(_ files: [(name: String, text: String)]) -> Result<MappingSet, MappingErrors> {
        var set = MappingSet()
        var errors: [MappingError] = []
        var policyFile: String?
        var binaryFile: String?
        if files.isEmpty { errors.append(MappingError(file: "(mappings)", "no mapping files (*.yaml, *.yml) found")) }
        for file in files {
            var reader = Reader(file: file.name)
            reader.binaryFile = binaryFile
            reader.read(file.text, into: &set, policyFile: &policyFile)
            binaryFile = reader.binaryFile
            errors += reader.errors
        }
        return errors.isEmpty ? .success(set) : .failure(MappingErrors(errors: errors))
    }

    private struct Reader {
        let file: String
        var errors: [MappingError] = []
        /// The file that set `binary:` (at most one may).
        var binaryFile: String?

        init(file: String) { self.file = file }

        mutating func fail(_ node: Node?, _ message: String) {
            errors.append(MappingError(file: file, line: node?.mark?.line, column: node?.mark?.column, message))
        }

        mutating func readBinary(_ node: Node, into set: inout MappingSet) {
            guard let f = fields(node, "binary", allowed: ["inlineMaxBytes", "maxFileBytes", "maxBatchBytes"]) else { return }
            func size(_ key: String, minimum: Int) -> Int? {
                guard let n = f[key] else { return nil }
                guard let v = n.int, v >= minimum else {
                    fail(n, "binary.\(key) must be an integer of at least \(minimum)")
                    return nil
                }
                return v
            }
            if let v = size("inlineMaxBytes", minimum: 0) { set.binary.inlineMaxBytes = v }
            if let v = size("maxFileBytes", minimum: 1) { set.binary.maxFileBytes = v }
            if let v = size("maxBatchBytes", minimum: 1) { set.binary.maxBatchBytes = v }
        }

        mutating func read(_ text: String, into set: inout MappingSet, policyFile: inout String?) {
            let root: Node?
            do {
                root = try Yams.compose(yaml: text)
            } catch let error as YamlError {
                errors.append(Self.syntaxError(error, file: file))
                return
            } catch {
                errors.append(MappingError(file: file, "not valid YAML: \(error)"))
                return
            }
            guard let root else { return }  // an empty file maps nothing
            guard let top = root.mapping else {
                fail(root, "the top level must be a mapping with 'events' and/or 'requests'")
                return
            }
            for (keyNode, value) in top {
                switch keyNode.string {
                case "events":
                    for (i, item) in items(value, "events").enumerated() { readEvent(item, index: i, into: &set) }
                case "requests":
                    for (i, item) in items(value, "requests").enumerated() { readRequest(item, index: i, into: &set) }
                case "unmappedFHIRcast":
                    guard let raw = value.string, let policy = MappingSet.UnmappedPolicy(rawValue: raw) else {
                        fail(value, "unmappedFHIRcast must be one of: \(MappingSet.UnmappedPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
                        continue
                    }
                    if let other = policyFile {
                        fail(keyNode, "unmappedFHIRcast is already set in \(other)")
                        continue
                    }
                    policyFile = file
                    set.unmappedFHIRcast = policy
                case "version":
                    if value.int != 1 { fail(value, "version must be 1") }
                case "binary":
                    if let other = binaryFile {
                        fail(keyNode, "binary is already set in \(other)")
                        continue
                    }
                    binaryFile = file
                    readBinary(value, into: &set)
                default:
                    fail(keyNode, "unknown key '\(keyNode.string ?? "?")' (expected events, requests, binary, unmappedFHIRcast, version)")
                }
            }
        }

        mutating func items(_ node: Node, _ name: String) -> [Node] {
            if case .scalar(let s) = node, s.string.isEmpty || s.string == "~" || s.string == "null" { return [] }
            guard let seq = node.sequence else {
                fail(node, "'\(name)' must be a list")
                return []
            }
            return Array(seq)
        }

        /// The fields of one list item, with unknown keys reported.
        mutating func fields(_ node: Node, _ what: String, allowed: [String]) -> [String: Node]? {
            guard let map = node.mapping else {
                fail(node, "\(what) must be a mapping with \(allowed.joined(separator: ", "))")
                return nil
            }
            var out: [String: Node] = [:]
            for (k, v) in map {
                guard let key = k.string, allowed.contains(key) else {
                    fail(k, "\(what): unknown key '\(k.string ?? "?")' (allowed: \(allowed.joined(separator: ", ")))")
                    continue
                }
                out[key] = v
            }
            return out
        }

        mutating func string(_ fields: [String: Node], _ key: String, _ what: String, in item: Node, required: Bool) -> String? {
            guard let node = fields[key] else {
                if required { fail(item, "\(what): '\(key)' is required") }
                return nil
            }
            guard case .scalar(let s) = node, !s.string.isEmpty else {
                fail(node, "\(what).\(key) must be a non-empty string")
                return nil
            }
            return s.string
        }

        mutating func readEvent(_ item: Node, index: Int, into set: inout MappingSet) {
            let what = "events[\(index)]"
            guard let f = fields(item, what, allowed: ["fhircast", "cast", "direction"]) else { return }
            let fhircast = string(f, "fhircast", what, in: item, required: true)
            let cast = string(f, "cast", what, in: item, required: true)
            var direction = EventMapping.Direction.both
            if let raw = string(f, "direction", what, in: item, required: false) {
                if let d = EventMapping.Direction(rawValue: raw) {
                    direction = d
                } else {
                    fail(f["direction"], "\(what).direction must be one of: \(EventMapping.Direction.allCases.map(\.rawValue).joined(separator: ", "))")
                    return
                }
            }
            guard let fhircast, let cast else { return }
            if let problem = EventCatalog.problem(withName: fhircast) {
                fail(f["fhircast"], "\(what).fhircast: \(problem)")
                return
            }
            if let problem = Self.castNameProblem(cast) {
                fail(f["cast"], "\(what).cast: \(problem)")
                return
            }
            let lower = cast.lowercased()
            if lower.hasSuffix("-request") || lower.hasSuffix("-response") {
                fail(f["cast"], "\(what).cast: '\(cast)' is a request verb; map it under 'requests'")
                return
            }
            let mapping = EventMapping(fhircast: fhircast, cast: cast, direction: direction, origin: origin(item))
            if let clash = set.add(mapping) { fail(item, "\(what): \(clash)") }
        }

        mutating func readRequest(_ item: Node, index: Int, into set: inout MappingSet) {
            let what = "requests[\(index)]"
            guard let f = fields(item, what, allowed: ["dataType", "action", "cast", "fhircast", "actor"]) else { return }
            let dataType = string(f, "dataType", what, in: item, required: true)
            let rawAction = string(f, "action", what, in: item, required: true)
            let cast = string(f, "cast", what, in: item, required: false)
            let fhircast = string(f, "fhircast", what, in: item, required: false)
            let actor = string(f, "actor", what, in: item, required: false)
            guard let dataType, let rawAction else { return }
            guard dataType.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                fail(f["dataType"], "\(what).dataType '\(dataType)' may hold only letters, digits, '_' and '-'")
                return
            }
            guard let action = RequestMapping.Action(rawValue: rawAction) else {
                fail(f["action"], "\(what).action must be one of: \(RequestMapping.Action.allCases.map(\.rawValue).joined(separator: ", "))")
                return
            }
            if let cast {
                if let problem = Self.castNameProblem(cast) {
                    fail(f["cast"], "\(what).cast: \(problem)")
                    return
                }
                guard cast.lowercased().hasSuffix("-request") else {
                    fail(f["cast"], "\(what).cast: a request verb must end in '-request'")
                    return
                }
            }
            switch (action, fhircast) {
            case (.forward, nil):
                fail(item, "\(what): action 'forward' needs 'fhircast', the event name FHIRcast subscribers receive")
                return
            case (.forward, let name?):
                if let problem = EventCatalog.problem(withName: name) {
                    fail(f["fhircast"], "\(what).fhircast: \(problem)")
                    return
                }
            case (_, .some):
                fail(f["fhircast"], "\(what).fhircast is only used with action 'forward'")
                return
            default: break
            }
            let mapping = RequestMapping(
                dataType: dataType, castEvent: cast, action: action, fhircast: fhircast, actor: actor ?? "WORKLIST_CLIENT",
                origin: origin(item))
            if let clash = set.add(mapping) { fail(item, "\(what): \(clash)") }
        }

        func origin(_ node: Node) -> MappingOrigin {
            MappingOrigin(file: file, line: node.mark?.line ?? 0)
        }

        static func castNameProblem(_ name: String) -> String? {
            if name.contains("*") { return "'*' is not an event name" }
            if name.contains(",") { return "'\(name)' contains a comma, which Cast uses to separate hub.events" }
            if name.contains(where: { $0.isWhitespace }) { return "'\(name)' contains whitespace" }
            return nil
        }

        static func syntaxError(_ error: YamlError, file: String) -> MappingError {
            switch error {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
                return MappingError(file: file, line: mark.line, column: mark.column, "not valid YAML: \(problem)")
            default:
                return MappingError(file: file, "not valid YAML: \(error)")
            }
        }
    }
}

/// Every problem found in the mapping files.
public struct MappingErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [MappingError]
    public init(errors: [MappingError]) { self.errors = errors }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
