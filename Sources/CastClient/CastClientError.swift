/// A Cast hub that did not do what the client asked.
public struct CastClientError: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// The HTTP status, when the hub answered.
    public var status: Int?

    public init(_ description: String, status: Int? = nil) {
        self.description = description
        self.status = status
    }

    /// The hub refused this one thing (a subscription to a topic); a refused token (401, 403), a timeout (408) or a
    /// hub unwilling for now (429) are not refusals of the thing itself.
    public var isRefusal: Bool {
        guard let status else { return false }
        return (400..<500).contains(status) && ![401, 403, 408, 429].contains(status)
    }
}
