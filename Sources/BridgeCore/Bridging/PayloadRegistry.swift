import Foundation

/// Files of Cast binary events that FHIRcast subscribers download at `GET /fhircast/payloads/{id}`: each maps a
/// castbridge id to the Cast hub's chunks, until the Cast hub's own copy expires. Bounded by `capacity`.
public struct PayloadRegistry: Sendable {
    public struct File: Sendable, Equatable, Codable {
        public var payloadIds: [String]
        public var size: Int
        public var mimeType: String
        public var fileName: String
        public var expiresAt: Date

        public init(payloadIds: [String], size: Int, mimeType: String, fileName: String, expiresAt: Date) {
            self.payloadIds = payloadIds
            self.size = size
            self.mimeType = mimeType
            self.fileName = fileName
            self.expiresAt = expiresAt
        }
    }

    public let capacity: Int
    private var files: [String: File] = [:]

    public init(capacity: Int = 100_000) { self.capacity = capacity }

    public var count: Int { files.count }
    public var isFull: Bool { files.count >= capacity }

    /// False when full: the file is described without a link.
    public mutating func register(_ file: File, id: String) -> Bool {
        guard !isFull else { return false }
        files[id] = file
        return true
    }

    /// A file, or nil when unknown or expired.
    public func file(_ id: String, now: Date) -> File? {
        guard let file = files[id], file.expiresAt > now else { return nil }
        return file
    }

    public mutating func expire(now: Date) {
        files = files.filter { $0.value.expiresAt > now }
    }
}
