import Foundation

/// `application/x-www-form-urlencoded` bodies as the tests' and the benchmark's clients write them.
public enum FormBody {
    /// Letters, digits and `-._*` stay; everything else is percent-encoded.
    public static func component(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    public static func encode(_ fields: [(String, String)]) -> String {
        fields.map { "\(component($0.0))=\(component($0.1))" }.joined(separator: "&")
    }

    private static let allowed: CharacterSet = {
        var set = CharacterSet.alphanumerics
        set.insert(charactersIn: "-._*")
        return set
    }()
}
