/// What an image display has open, as its STATUS tells it. Pure: events in, state out. Each open gets a new
/// generation, so that a slow load finishing after a newer open or a close is recognised as stale and dropped.
public struct DisplayState: Sendable, Equatable {
    public enum Load: String, Sendable, Equatable {
        case none
        case loading
        case loaded
        case error
    }

    public private(set) var generation = 0
    public private(set) var studyID: String?
    public private(set) var mode: String?
    public private(set) var load: Load = .none
    public private(set) var error: String?
    public private(set) var lastEvent: String?
    /// The folder the open study was fetched into.
    public private(set) var studyDirectory: String?

    public init() {}

    /// An open arrived: returns its generation.
    public mutating func opening(studyID: String, mode: String) -> Int {
        generation += 1
        self.studyID = studyID
        self.mode = mode
        load = .loading
        error = nil
        studyDirectory = nil
        lastEvent = "imagingstudy-open"
        return generation
    }

    /// An open could not even be planned.
    public mutating func refused(_ why: String) {
        generation += 1
        studyID = nil
        mode = nil
        load = .error
        error = why
        studyDirectory = nil
        lastEvent = "imagingstudy-open"
    }

    /// The load of `generation` ended; false when it is stale (a newer open or a close came since).
    @discardableResult
    public mutating func loaded(generation: Int, directory: String?, error: String?) -> Bool {
        guard generation == self.generation, load == .loading else { return false }
        load = error == nil ? .loaded : .error
        self.error = error
        studyDirectory = directory
        return true
    }

    public mutating func closed() {
        generation += 1
        studyID = nil
        mode = nil
        load = .none
        error = nil
        studyDirectory = nil
        lastEvent = "imagingstudy-close"
    }

    /// The STATUS items beyond availability.
    public var items: [(String, String)] {
        var items: [(String, String)] = [("load", load.rawValue)]
        if let studyID { items.append(("study", studyID)) }
        if let mode { items.append(("openMode", mode)) }
        if let error { items.append(("error", error)) }
        if let lastEvent { items.append(("lastEvent", lastEvent)) }
        return items
    }
}
