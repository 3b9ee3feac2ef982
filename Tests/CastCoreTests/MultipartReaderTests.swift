import Testing
import TestSupport

@testable import CastCore

/// The multipart reader on its own (issue #18): well-formed batches in every split into chunks, every malformed
/// input ending in a reason, and random bytes never stopping the process.
@Suite("Multipart reader")
struct MultipartReaderTests {
    /// One part as a reader reported it.
    struct Part: Equatable {
        var headers: [String] = []
        var body: [UInt8] = []
    }

    /// Feeds `bytes` cut at `cuts` (offsets), then finishes: the parts, or the first error.
    static func read(_ bytes: [UInt8], boundary: String = "b1", cuts: [Int] = []) -> Result<[Part], MultipartError> {
        do {
            var reader = try MultipartReader(boundary: boundary)
            var parts: [Part] = []
            var open = false
            var start = 0
            for end in (cuts.filter { $0 > 0 && $0 < bytes.count }.sorted() + [bytes.count]) {
                let chunk = Array(bytes[start..<end])
                start = end
                let events = try chunk.withUnsafeBytes { buffer throws(MultipartError) in try reader.feed(buffer) }
                for event in events {
                    switch event {
                    case .partBegin:
                        #expect(!open, "a part began inside a part")
                        open = true
                        parts.append(Part())
                    case .header(let name, let value):
                        parts[parts.count - 1].headers.append("\(name): \(value)")
                    case .body(let range):
                        #expect(!range.isEmpty, "an empty body range was reported")
                        parts[parts.count - 1].body += chunk[range]
                    case .heldBody(let held):
                        parts[parts.count - 1].body += held
                    case .partEnd:
                        #expect(open, "a part ended that had not begun")
                        open = false
                    }
                }
            }
            try reader.finish()
            #expect(reader.isComplete)
            return .success(parts)
        } catch {
            return .failure(error as? MultipartError ?? MultipartError("\(error)"))
        }
    }

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// A Cast batch: a JSON envelope, then a file whose bytes look like delimiters without being one.
    static let batch: [UInt8] =
        bytes("--b1\r\nContent-Type: application/dicom+json\r\n\r\n{\"event\":{}}\r\n--b1\r\nContent-Type: application/dicom\r\nX-Note:  café \r\n\r\n")
        + [0x00, 0x0D, 0x0A, 0x2D, 0x2D, 0x62, 0x32, 0x0D, 0x0D, 0x0A, 0x2D, 0x2D, 0x62, 0xFF, 0x0D, 0x0A, 0x0D]
        + bytes("\r\n--b1--\r\nepilogue ignored")

    static let batchParts = [
        Part(headers: ["Content-Type: application/dicom+json"], body: bytes("{\"event\":{}}")),
        Part(headers: ["Content-Type: application/dicom", "X-Note: café"], body: [0x00, 0x0D, 0x0A, 0x2D, 0x2D, 0x62, 0x32, 0x0D, 0x0D, 0x0A, 0x2D, 0x2D, 0x62, 0xFF, 0x0D, 0x0A, 0x0D]),
    ]

    @Test("A batch reads the same whole, in every split into two chunks, in three, and byte by byte")
    func everySplit() throws {
        #expect(try Self.read(Self.batch).get() == Self.batchParts)
        for cut in 1..<Self.batch.count {
            #expect(try Self.read(Self.batch, cuts: [cut]).get() == Self.batchParts, "cut at \(cut)")
        }
        for a in stride(from: 1, to: Self.batch.count, by: 7) {
            for b in stride(from: a + 1, to: Self.batch.count, by: 5) {
                #expect(try Self.read(Self.batch, cuts: [a, b]).get() == Self.batchParts, "cuts at \(a), \(b)")
            }
        }
        #expect(try Self.read(Self.batch, cuts: Array(1..<Self.batch.count)).get() == Self.batchParts)
    }

    @Test("Preamble, transport padding, a part without headers, an empty body, a CRLF before the first delimiter")
    func grammar() throws {
        let body = Self.bytes("preamble\r\n--b1 \t\r\n\r\nno headers\r\n--b1\r\nA: 1\r\n\r\n\r\n--b1--")
        let expected = [Part(headers: [], body: Self.bytes("no headers")), Part(headers: ["A: 1"], body: [])]
        #expect(try Self.read(body).get() == expected)
        #expect(try Self.read(Self.bytes("\r\n--b1\r\n\r\nx\r\n--b1--")).get() == [Part(body: Self.bytes("x"))])
        // Python's email package makes boundaries such as ===============123==.
        #expect(try Self.read(Self.bytes("--==x==\r\n\r\nz\r\n--==x==--"), boundary: "==x==").get() == [Part(body: Self.bytes("z"))])
    }

    /// The request of issue #18, and its variants: a byte ≥ 0x80 in a header name, in every part, in every split.
    @Test("Issue 18: a header-name byte ≥ 0x80 is a reason, never a trap, in every part and every split")
    func highBytesInHeaderNames() {
        let crash = Self.bytes("--b1\r\nContent-Typ") + [0xC3] + Self.bytes(": application/dicom+json\r\n\r\n{}\r\n--b1--\r\n")
        for cut in 0..<crash.count {
            guard case .failure(let error) = Self.read(crash, cuts: [cut]) else {
                Issue.record("accepted with a cut at \(cut)")
                continue
            }
            #expect(error.message.contains("header name"), "\(error)")
            #expect(error.message.contains("\\xC3"), "\(error)")
        }
        for byte: UInt8 in [0x80, 0xC3, 0xFF, 0x00, 0x7F, 0x20, 0x22] {
            let second = Self.bytes("--b1\r\nContent-Type: application/json\r\n\r\n{}\r\n--b1\r\nX") + [byte] + Self.bytes(": y\r\n\r\nz\r\n--b1--")
            guard case .failure(let error) = Self.read(second) else {
                Issue.record("byte \(byte) in the second part's header name was accepted")
                continue
            }
            #expect(error.message.contains("header name"), "\(error)")
        }
    }

    @Test("Header values: valid UTF-8 is kept, invalid UTF-8 and control characters are reasons")
    func headerValues() throws {
        let valid = Self.bytes("--b1\r\nX-Name: Zoë\r\n\r\n\r\n--b1--")
        #expect(try Self.read(valid).get() == [Part(headers: ["X-Name: Zoë"])])
        for bad: [UInt8] in [[0xC3], [0xFF, 0xFE], [0x80], [0x01], [0x7F]] {
            let body = Self.bytes("--b1\r\nContent-Type: app") + bad + Self.bytes("\r\n\r\nx\r\n--b1--")
            for cut in [0, 20, 21, 22] {
                guard case .failure(let error) = Self.read(body, cuts: [cut]) else {
                    Issue.record("value bytes \(bad) were accepted")
                    continue
                }
                #expect(error.message.contains("Content-Type"), "\(error)")
            }
        }
    }

    @Test("Malformed structure: each has its own reason")
    func malformed() {
        let cases: [(String, String)] = [
            ("", "no delimiter line"),
            ("just text", "no delimiter line"),
            ("--b1\r\nA: 1\r\n", "inside a part's headers"),
            ("--b1\r\n\r\nbody without an end", "before the closing delimiter"),
            ("--b1\r\n\r\nx\r\n--b1", "before the closing delimiter"),
            ("--b1\r\n\r\nx\r\n--b1-", "before the closing delimiter"),
            ("--b1\r\n\r\nx\r\n--b1-x", "cut short"),
            ("--b1x\r\n", "followed by other characters"),
            // RFC 2046: the boundary may not begin any line of the body, even in a longer word.
            ("--b1\r\n\r\nx\r\n--b10\r\n", "followed by other characters"),
            ("--b1\rx", "must end with CRLF"),
            ("--b1\r\nA: 1\n\r\n", "bare LF"),
            ("--b1\r\nA: 1\rB\r\n", "CR without LF"),
            ("--b1\r\nno colon here\r\n\r\n", "no colon"),
            ("--b1\r\n: empty name\r\n\r\n", "no name"),
            ("--b1\r\n Folded: x\r\n\r\n", "header name"),
        ]
        for (text, reason) in cases {
            guard case .failure(let error) = Self.read(Self.bytes(text)) else {
                Issue.record("'\(text)' was accepted")
                continue
            }
            #expect(error.message.contains(reason), "'\(text)': \(error)")
        }
        let huge = Self.bytes("--b1\r\nX: ") + Array(repeating: UInt8(ascii: "a"), count: MultipartReader.maxHeaderBytes) + Self.bytes("\r\n\r\n")
        guard case .failure(let error) = Self.read(huge, cuts: [1000, 9000]) else {
            Issue.record("an oversize header block was accepted")
            return
        }
        #expect(error.message.contains("longer than \(MultipartReader.maxHeaderBytes)"))
    }

    @Test("After an error every later chunk throws the same error")
    func stickyFailure() throws {
        var reader = try MultipartReader(boundary: "b1")
        let first = Self.bytes("--b1\r\nX\u{7F}: 1\r\n")
        #expect(throws: MultipartError.self) { _ = try first.withUnsafeBytes { try reader.feed($0) } }
        let again = Self.bytes("\r\nfine\r\n--b1--")
        #expect(throws: MultipartError.self) { _ = try again.withUnsafeBytes { try reader.feed($0) } }
        #expect(throws: MultipartError.self) { try reader.finish() }
    }

    @Test("Boundaries: empty, too long, non-ASCII, control characters and a trailing space are refused")
    func boundaries() {
        for bad in ["", String(repeating: "x", count: MultipartReader.maxBoundaryLength + 1), "bé", "a\rb", "a\nb", "ab "] {
            #expect(throws: MultipartError.self, "\(bad.debugDescription)") { _ = try MultipartReader(boundary: bad) }
        }
        #expect(throws: Never.self) { _ = try MultipartReader(boundary: String(repeating: "x", count: 70)) }
    }

    /// Random bytes and mutations of a good batch, cut at random places: the reader answers with parts or an error,
    /// and the same input answers the same way however it is cut. A trap here stops the test process.
    @Test("Seeded random inputs: never a trap, and the answer does not depend on the chunking")
    func randomInputs() {
        var random = SplitMix64(seed: 18)
        for round in 0..<3_000 {
            var input = Self.batch
            switch round % 3 {
            case 0:
                input = (0..<random.next(upTo: 200)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            case 1:
                for _ in 0...random.next(upTo: 4) {
                    input[random.next(upTo: input.count)] = UInt8(truncatingIfNeeded: random.next())
                }
            default:
                let at = random.next(upTo: input.count)
                let from = random.next(upTo: input.count)
                input.insert(contentsOf: input[from..<min(input.count, from + random.next(upTo: 12))], at: at)
            }
            let whole = Self.read(input)
            let cuts = (0..<random.next(upTo: 6)).map { _ in random.next(upTo: max(1, input.count)) }
            let chunked = Self.read(input, cuts: cuts)
            switch (whole, chunked) {
            case (.success(let a), .success(let b)): #expect(a == b, "round \(round)")
            case (.failure(let a), .failure(let b)): #expect(a == b, "round \(round)")
            default: Issue.record("round \(round): whole \(whole), chunked at \(cuts) \(chunked)")
            }
        }
    }
}
