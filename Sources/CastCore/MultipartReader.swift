import Foundation

/// A streaming reader of a MIME multipart body (RFC 2046 §5.1), as Cast binary batches send it
/// (`multipart/related`, cast-protocol.md §4.1). Pure: chunks of bytes in, events out, no I/O.
///
/// It replaces MultipartKit's parser, which traps on a header-name byte ≥ 0x80 (it indexes a 128-entry table with
/// any byte; issue #18, Docs/reliability.md). Every input, in any split into chunks, ends in events or in a
/// `MultipartError` with a reason: there is no force unwrap, no unchecked index and no arithmetic that can
/// overflow on what a client sends. What it holds is bounded: one header block (`maxHeaderBytes`) and at most a
/// delimiter's length of bytes across chunks; body bytes are never copied, only their positions reported.
///
/// Lines end with CRLF. A part is a delimiter line, its header lines, a blank line, and its body up to the next
/// delimiter (`CRLF--boundary`); the closing delimiter `--boundary--` ends the body, and what follows it is ignored.
public struct MultipartReader: Sendable {
    public enum Event: Sendable, Equatable {
        /// A delimiter line opened a part.
        case partBegin
        /// One header of the current part: the name as sent, the value with surrounding blanks removed.
        case header(name: String, value: String)
        /// Body bytes of the current part: this range of the chunk given to `feed`.
        case body(Range<Int>)
        /// Body bytes held back from an earlier chunk, where they might have begun a delimiter.
        case heldBody([UInt8])
        /// The current part ended at a delimiter.
        case partEnd
    }

    /// The most bytes one part's header block may take (header lines and their line breaks).
    public static let maxHeaderBytes = 16 * 1024
    /// The longest boundary accepted: RFC 2046 allows 70 characters; some clients send longer ones.
    public static let maxBoundaryLength = 200

    private enum State: Sendable, Equatable {
        /// Before the first delimiter: bytes are ignored.
        case preamble
        /// After `--boundary`: `--` closes the body; otherwise blanks, then CRLF. `dash` is a first `-` seen;
        /// `cr` a CR seen.
        case delimiterLine(dash: Bool, cr: Bool, blanks: Int)
        /// Reading header lines; `cr` is a CR seen at the end of `line`.
        case headers(cr: Bool)
        case body
        /// After the closing delimiter: bytes are ignored.
        case epilogue
        case failed(MultipartError)
    }

    private let boundary: String
    /// `CRLF--boundary`.
    private let delimiter: [UInt8]
    private var state = State.preamble
    /// Bytes at the end of the chunks so far that may begin a delimiter. It starts as CRLF, so that a body may open
    /// with its first delimiter line and no line break before it.
    private var held: [UInt8] = [0x0D, 0x0A]
    private var line: [UInt8] = []
    private var headerBytes = 0

    /// The `boundary` parameter of a `multipart/…` content type, unquoted; nil when there is none.
    public static func boundary(ofContentType contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let kv = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, kv[0].lowercased() == "boundary" else { continue }
            let value = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            return value.isEmpty ? nil : value
        }
        return nil
    }

    /// A reader for this boundary, or an error saying why the boundary cannot be one.
    public init(boundary: String) throws(MultipartError) {
        let bytes = Array(boundary.utf8)
        guard !bytes.isEmpty else { throw MultipartError("the multipart boundary is empty") }
        guard bytes.count <= Self.maxBoundaryLength else {
            throw MultipartError("the multipart boundary is longer than \(Self.maxBoundaryLength) characters")
        }
        guard bytes.allSatisfy({ (0x20...0x7E).contains($0) }), bytes.last != 0x20 else {
            throw MultipartError("the multipart boundary must be printable ASCII and must not end with a space")
        }
        self.boundary = boundary
        delimiter = [0x0D, 0x0A, 0x2D, 0x2D] + bytes
    }

    /// True once the closing delimiter was read.
    public var isComplete: Bool { state == .epilogue }

    /// Reads one chunk. Body events refer to positions in `chunk`. After an error, every later call throws it again.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer) throws(MultipartError) -> [Event] {
        var events: [Event] = []
        var i = 0
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .epilogue:
                return events
            case .preamble, .body:
                guard findDelimiter(chunk, from: &i, events: &events) else { return events }
                if state == .body { events.append(.partEnd) }
                state = .delimiterLine(dash: false, cr: false, blanks: 0)
            case .delimiterLine(let dash, let cr, let blanks):
                guard i < chunk.count else { return events }
                let byte = chunk[i]
                i += 1
                if dash {
                    guard byte == 0x2D else { try fail("the closing delimiter --\(boundary)-- is cut short") }
                    state = .epilogue
                } else if cr {
                    guard byte == 0x0A else { try fail("a delimiter line must end with CRLF") }
                    events.append(.partBegin)
                    line.removeAll(keepingCapacity: true)
                    headerBytes = 0
                    state = .headers(cr: false)
                } else if byte == 0x2D, blanks == 0 {
                    state = .delimiterLine(dash: true, cr: false, blanks: 0)
                } else if byte == 0x20 || byte == 0x09 {
                    // Transport padding (RFC 2046 §5.1.1), bounded like a header line.
                    guard blanks < 1024 else { try fail("a delimiter line has too much padding") }
                    state = .delimiterLine(dash: false, cr: false, blanks: blanks + 1)
                } else if byte == 0x0D {
                    state = .delimiterLine(dash: false, cr: true, blanks: blanks)
                } else {
                    try fail("the delimiter --\(boundary) is followed by other characters on its line")
                }
            case .headers(let cr):
                guard i < chunk.count else { return events }
                let byte = chunk[i]
                i += 1
                headerBytes += 1
                guard headerBytes <= Self.maxHeaderBytes else {
                    try fail("a part's headers are longer than \(Self.maxHeaderBytes) bytes")
                }
                if cr {
                    guard byte == 0x0A else { try fail("a part's header line has a CR without LF") }
                    if line.isEmpty {
                        state = .body
                    } else {
                        do { events.append(try Self.header(line)) } catch { try fail(error.message) }
                        line.removeAll(keepingCapacity: true)
                        state = .headers(cr: false)
                    }
                } else if byte == 0x0D {
                    state = .headers(cr: true)
                } else if byte == 0x0A {
                    try fail("a part's header lines must end with CRLF, not a bare LF")
                } else {
                    line.append(byte)
                }
            }
        }
    }

    /// The body ended: throws unless the closing delimiter was read.
    public func finish() throws(MultipartError) {
        switch state {
        case .epilogue: return
        case .failed(let error): throw error
        case .preamble: throw MultipartError("the body has no delimiter line --\(boundary)")
        case .headers: throw MultipartError("the body ended inside a part's headers")
        case .delimiterLine, .body: throw MultipartError("the body ended before the closing delimiter --\(boundary)--")
        }
    }

    private mutating func fail(_ message: String) throws(MultipartError) -> Never {
        let error = MultipartError(message)
        state = .failed(error)
        throw error
    }

    // MARK: Delimiters

    /// Looks for the next delimiter from `i`, reporting the body bytes before it (in the body state). True when one
    /// was found, with `i` just after it; false when the chunk ran out, with its tail held if it may begin one.
    private mutating func findDelimiter(_ chunk: UnsafeRawBufferPointer, from i: inout Int, events: inout [Event]) -> Bool {
        let emitting = state == .body
        if !held.isEmpty {
            // Bytes held from the last chunk: do they and this chunk's first bytes make a delimiter?
            var released: [UInt8] = []
            var outcome: Bool?
            while !held.isEmpty {
                let need = delimiter.count - held.count
                let available = min(need, chunk.count - i)
                var matches = true
                for k in 0..<available where chunk[i + k] != delimiter[held.count + k] {
                    matches = false
                    break
                }
                if matches {
                    if available == need {
                        held.removeAll(keepingCapacity: true)
                        outcome = true
                    } else {
                        held.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[i..<(i + available)]))
                        outcome = false
                    }
                    i += available
                    break
                }
                // The first held byte does not begin a delimiter: it is body, and so is what follows up to a CR.
                released.append(held.removeFirst())
                while let first = held.first, first != 0x0D { released.append(held.removeFirst()) }
            }
            if emitting, !released.isEmpty { events.append(.heldBody(released)) }
            if let outcome { return outcome }
        }
        let start = i
        while i < chunk.count {
            guard let cr = Self.firstCR(chunk, from: i) else {
                i = chunk.count
                break
            }
            let available = min(delimiter.count, chunk.count - cr)
            var matches = true
            for k in 1..<available where chunk[cr + k] != delimiter[k] {
                matches = false
                break
            }
            guard matches else {
                i = cr + 1
                continue
            }
            if emitting, cr > start { events.append(.body(start..<cr)) }
            if available < delimiter.count {
                // The chunk ends inside what may be a delimiter: hold it until the next chunk tells.
                held = Array(UnsafeRawBufferPointer(rebasing: chunk[cr..<chunk.count]))
                i = chunk.count
                return false
            }
            i = cr + available
            return true
        }
        if emitting, chunk.count > start { events.append(.body(start..<chunk.count)) }
        return false
    }

    private static func firstCR(_ chunk: UnsafeRawBufferPointer, from i: Int) -> Int? {
        var j = i
        while j < chunk.count {
            if chunk[j] == 0x0D { return j }
            j += 1
        }
        return nil
    }

    // MARK: Headers

    /// `name: value`. Names are RFC 822 tokens; values are UTF-8 without control characters other than tab.
    private static func header(_ line: [UInt8]) throws(MultipartError) -> Event {
        guard let colon = line.firstIndex(of: 0x3A) else {
            throw MultipartError("a part's header line has no colon: \(describe(line))")
        }
        let name = line[..<colon]
        guard !name.isEmpty else { throw MultipartError("a part's header line has no name: \(describe(line))") }
        guard name.allSatisfy(isTokenByte) else {
            throw MultipartError("a part's header name has a character a header name cannot have: \(describe(Array(name)))")
        }
        var value = line[(colon + 1)...]
        while let b = value.first, b == 0x20 || b == 0x09 { value.removeFirst() }
        while let b = value.last, b == 0x20 || b == 0x09 { value.removeLast() }
        guard value.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }) else {
            throw MultipartError("the value of part header '\(String(decoding: name, as: UTF8.self))' has a control character")
        }
        guard let text = String(validating: value, as: UTF8.self) else {
            throw MultipartError("the value of part header '\(String(decoding: name, as: UTF8.self))' is not valid UTF-8")
        }
        return .header(name: String(decoding: name, as: UTF8.self), value: text)
    }

    /// RFC 822 token characters: visible ASCII other than the specials.
    private static func isTokenByte(_ b: UInt8) -> Bool {
        guard b > 0x20, b < 0x7F else { return false }
        return !#"()<>@,;:\"/[]?={}"#.utf8.contains(b)
    }

    /// A header line for an error message: printable ASCII as is, other bytes as `\xHH`, at most 80 bytes.
    private static func describe(_ bytes: [UInt8]) -> String {
        var out = ""
        for b in bytes.prefix(80) {
            if (0x20..<0x7F).contains(b) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                let hex = String(b, radix: 16, uppercase: true)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return "'" + out + (bytes.count > 80 ? "…'" : "'")
    }
}

/// Why a multipart body was refused.
public struct MultipartError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
