import Foundation

/// The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1).
public enum BearerHeader {
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case missing
        case notBearer
        case empty

        public var description: String {
            switch self {
            case .missing: "this needs an 'Authorization: Bearer <token>' header"
            case .notBearer: "the Authorization header is not 'Bearer <token>'"
            case .empty: "the Authorization header's bearer token is empty"
            }
        }
    }

    public static func token(_ header: String?) -> Result<String, Problem> {
        guard let header else { return .failure(.missing) }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard let scheme = parts.first, scheme.lowercased() == "bearer" else { return .failure(.notBearer) }
        let token = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        guard !token.isEmpty else { return .failure(.empty) }
        return .success(token)
    }
}
