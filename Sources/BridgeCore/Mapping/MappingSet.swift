import FHIRcastCore

/// Where a mapping rule was written, for messages that point at it.
public struct MappingOrigin: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int

    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    public var description: String { "\(file):\(line)" }
}

/// One event name pair: a FHIRcast name and the Cast name it travels under.
public struct EventMapping: Sendable, Hashable {
    public enum Direction: String, Sendable, Hashable, CaseIterable {
        case both
        case toCast = "to-cast"
        case toFHIRcast = "to-fhircast"
    }

    /// The FHIRcast name: canonical casing for catalog events, a reverse-domain name for Cast-only events.
    public var fhircast: String
    /// The Cast name, lower-cased (Cast convention).
    public var cast: String
    public var direction: Direction
    public var origin: MappingOrigin?

    public init(fhircast: String, cast: String, direction: Direction = .both, origin: MappingOrigin? = nil) {
        self.fhircast = EventCatalog.canonical(fhircast)
        self.cast = cast.lowercased()
        self.direction = direction
        self.origin = origin
    }

    public var toCast: Bool { direction != .toFHIRcast }
    public var toFHIRcast: Bool { direction != .toCast }
}

/// What the bridge does with a Cast `*-request` of one data type.
public struct RequestMapping: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable, CaseIterable {
        /// Answer at once from the topic's current FHIRcast context, as a worklist client would.
        case answerFromContext = "answer-from-context"
        /// Deliver to the topic's FHIRcast subscribers as `fhircast` and relay the first reply.
        case forward
        /// Do not answer (and do not subscribe for it, so requesters do not wait for the bridge).
        case ignore
    }

    /// The data type as Cast writes it (`STATUS`, `SCENEVIEW`, `PNGTHUMBNAIL`); matched case-insensitively.
    public var dataType: String
    /// The Cast request event, lower-cased: `<datatype>-request` unless the file says otherwise.
    public var castEvent: String
    public var action: Action
    /// For `forward`: the FHIRcast event the request is delivered as.
    public var fhircast: String?
    /// The actor the bridge answers as.
    public var actor: String
    public var origin: MappingOrigin?

    public init(
        dataType: String, castEvent: String? = nil, action: Action, fhircast: String? = nil, actor: String = "WORKLIST_CLIENT",
        origin: MappingOrigin? = nil
    ) {
        self.dataType = dataType
        self.castEvent = (castEvent ?? "\(dataType)-request").lowercased()
        self.action = action
        self.fhircast = fhircast
        self.actor = actor
        self.origin = origin
    }

    /// The matching response event: `<datatype>-response`, lower-case (the reference hub tests the suffix
    /// case-sensitively).
    public var castResponseEvent: String {
        String(castEvent.dropLast("-request".count)) + "-response"
    }
}

/// Every translation rule the bridge follows, from the mapping files.
public struct MappingSet: Sendable {
    public private(set) var events: [EventMapping] = []
    public private(set) var requests: [RequestMapping] = []
    /// FHIRcast events with no rule: sent to Cast under their lower-cased name (`lowercase`) or not at all (`drop`).
    public var unmappedFHIRcast: UnmappedPolicy = .lowercase
    /// Limits and options of binary content (the `binary:` section).
    public var binary = BinaryPolicy()

    public enum UnmappedPolicy: String, Sendable, CaseIterable {
        case lowercase
        case drop
    }

    private var castByFHIRcastKey: [String: Int] = [:]
    private var fhircastByCast: [String: Int] = [:]
    private var requestByCastEvent: [String: Int] = [:]
    private var requestByDataType: [String: Int] = [:]
    private var requestByFHIRcastKey: [String: Int] = [:]
    /// FHIRcast names that only come from Cast: never sent back under a made-up name.
    private var inboundOnly: Set<String> = []

    public init() {}

    /// The rules of `mappings/default.yaml`, built in (used when no mapping directory exists).
    public static let builtIn: MappingSet = {
        switch MappingFile.load([(DefaultMappings.fileName, DefaultMappings.yaml)]) {
        case .success(let set): return set
        case .failure(let errors): preconditionFailure("the built-in mappings do not load: \(errors)")
        }
    }()

    /// Why a rule cannot be added (a clash with an earlier one), or nil once it is added.
    public mutating func add(_ mapping: EventMapping) -> String? {
        let fkey = mapping.fhircast.lowercased()
        if mapping.toCast, let i = castByFHIRcastKey[fkey] {
            return "FHIRcast event '\(mapping.fhircast)' is already mapped to Cast '\(events[i].cast)'\(Self.at(events[i].origin))"
        }
        if mapping.toFHIRcast, let i = fhircastByCast[mapping.cast] {
            return "Cast event '\(mapping.cast)' is already mapped to FHIRcast '\(events[i].fhircast)'\(Self.at(events[i].origin))"
        }
        if let i = requestByCastEvent[mapping.cast] {
            return "Cast event '\(mapping.cast)' is already a request verb\(Self.at(requests[i].origin))"
        }
        events.append(mapping)
        if mapping.toCast { castByFHIRcastKey[fkey] = events.count - 1 }
        if mapping.toFHIRcast { fhircastByCast[mapping.cast] = events.count - 1 }
        if !mapping.toCast { inboundOnly.insert(fkey) }
        return nil
    }

    public mutating func add(_ mapping: RequestMapping) -> String? {
        if let i = requestByDataType[mapping.dataType.lowercased()] {
            return "request data type '\(mapping.dataType)' is already mapped\(Self.at(requests[i].origin))"
        }
        if let i = requestByCastEvent[mapping.castEvent] {
            return "request event '\(mapping.castEvent)' is already mapped\(Self.at(requests[i].origin))"
        }
        if let i = fhircastByCast[mapping.castEvent] {
            return "Cast event '\(mapping.castEvent)' is already an event mapping\(Self.at(events[i].origin))"
        }
        if let name = mapping.fhircast, let i = requestByFHIRcastKey[name.lowercased()] {
            return "FHIRcast event '\(name)' already carries requests of type '\(requests[i].dataType)'\(Self.at(requests[i].origin))"
        }
        requests.append(mapping)
        let i = requests.count - 1
        requestByDataType[mapping.dataType.lowercased()] = i
        requestByCastEvent[mapping.castEvent] = i
        if let name = mapping.fhircast { requestByFHIRcastKey[name.lowercased()] = i }
        return nil
    }

    private static func at(_ origin: MappingOrigin?) -> String { origin.map { " at \($0)" } ?? "" }

    // MARK: Lookups

    /// The Cast name for a FHIRcast event, or nil when it must not go to Cast.
    public func castName(forFHIRcast name: String) -> String? {
        if let i = castByFHIRcastKey[name.lowercased()] { return events[i].cast }
        if requestByFHIRcastKey[name.lowercased()] != nil { return nil }  // requests are answered, not republished
        if inboundOnly.contains(name.lowercased()) { return nil }
        switch unmappedFHIRcast {
        case .lowercase: return name.lowercased()
        case .drop: return nil
        }
    }

    /// The FHIRcast name for a Cast event, or nil when it is not bridged.
    public func fhircastName(forCast name: String) -> String? {
        fhircastByCast[name.lowercased()].map { events[$0].fhircast }
    }

    public func request(forCastEvent name: String) -> RequestMapping? {
        requestByCastEvent[name.lowercased()].map { requests[$0] }
    }

    public func request(forDataType type: String) -> RequestMapping? {
        requestByDataType[type.lowercased()].map { requests[$0] }
    }

    /// The `hub.events` the bridge subscribes to upstream: every Cast event it carries to FHIRcast and every
    /// request verb it answers. Ignored verbs are left out so that requesters never wait for the bridge.
    public var castSubscriptionEvents: [String] {
        var names = events.filter(\.toFHIRcast).map(\.cast)
        names += requests.filter { $0.action != .ignore }.map(\.castEvent)
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }

    /// Every FHIRcast event name the rules carry, either way: the names a FHIRcast hub bridged by them must take and
    /// lists in `eventsSupported` (C5).
    public var declaredFHIRcastNames: [String] {
        var seen = Set<String>()
        return (events.map(\.fhircast) + requests.compactMap(\.fhircast)).filter { seen.insert($0.lowercased()).inserted }
    }
}
