/// A store that cannot be used, with the reason a person can act on (logged, and named in 503 answers).
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
