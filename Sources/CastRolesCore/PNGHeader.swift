/// The size of a PNG image, read from its header (the signature, then the IHDR chunk's width and height).
public enum PNGHeader {
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Nil when `bytes` do not begin like a PNG.
    public static func size<Bytes: Collection>(_ bytes: Bytes) -> (width: Int, height: Int)? where Bytes.Element == UInt8 {
        let head = Array(bytes.prefix(24))
        guard head.count == 24, Array(head[0..<8]) == signature, Array(head[12..<16]) == Array("IHDR".utf8) else { return nil }
        func word(_ at: Int) -> Int { head[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        let (width, height) = (word(16), word(20))
        guard width > 0, height > 0 else { return nil }
        return (width, height)
    }
}
