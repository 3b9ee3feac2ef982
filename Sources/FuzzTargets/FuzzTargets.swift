import AccessCore
import BridgeCore
import CastCore
import CastRolesCore
import FHIRcastCore
import Foundation

/// Every parser that reads bytes from outside, as fuzz targets (Docs/reliability.md, `scripts/fuzz.sh`): each takes
/// any bytes and must return, whatever they are. A crash, a trap or a hang is a finding. The same functions replay
/// the committed corpus in the tests (`FuzzCorpusTests`).
public enum FuzzTargets {
    public typealias Target = @Sendable ([UInt8]) -> Void

    public static let all: [(name: String, run: Target)] = [
        ("fhircast-notification", fhircastNotification),
        ("fhircast-subscription", fhircastSubscription),
        ("ack-frame", ackFrame),
        ("cast-envelope", castEnvelope),
        ("multipart", multipart),
        ("mapping-file", mappingFile),
        ("token-and-addresses", tokenAndAddresses),
        ("imaging-study-open", imagingStudyOpen),
    ]

    public static func named(_ name: String) -> Target? { all.first { $0.name == name }?.run }

    static func json(_ bytes: [UInt8]) -> JSONValue? { try? JSONValue.parse(Data(bytes)) }
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    static let translator: Translator = {
        guard case .success(let mappings) = MappingFile.load([("default.yaml", DefaultMappings.yaml)]) else {
            fatalError("the default mappings do not load")
        }
        return Translator(mappings: mappings, identity: BridgeIdentity())
    }()

    /// A FHIRcast publish body: parsed, then translated to a Cast envelope as the bridge would.
    static let fhircastNotification: Target = { bytes in
        guard let body = json(bytes) else { return }
        for topic in [nil, "T"] as [String?] {
            guard let notification = try? NotificationParser.parse(body, pathTopic: topic) else { continue }
            if let files = try? translator.outgoingFiles(for: notification) {
                _ = translator.castEnvelope(for: notification, files: files)
            }
        }
    }

    /// A subscription form, for both hubs.
    static let fhircastSubscription: Target = { bytes in
        guard let form = try? FormFields.parse(text(bytes)) else { return }
        _ = try? SubscriptionRequest.parse(form, flavor: .stu3)
        _ = try? SubscriptionRequest.parse(form, flavor: .stu2)
    }

    /// A frame a FHIRcast subscriber sends on its socket (ACKs), by the fast path and by the JSON one.
    static let ackFrame: Target = { bytes in
        _ = bytes.withUnsafeBytes { AckFrame.decode($0) }
        if let value = json(bytes) { _ = AckFrame.parse(value) }
    }

    /// What a Cast app sends: subscribe fields, a publish envelope (files checked, translated to FHIRcast as the bridge
    /// would), a request.
    static let castEnvelope: Target = { bytes in
        guard let value = json(bytes) else { return }
        if case .object(let object) = value {
            _ = try? CastSubscription.parse(CastFields(object), endpoint: "e")
            _ = CastRouting(envelope: object)
            _ = try? CastFilenamePolicy.validateFiles(of: object)
        }
        _ = try? CastRequest.parse(value)
        _ = translator.inbound(value, newID: { "id" }, now: "2026-01-01T00:00:00Z")
    }

    /// A multipart batch in chunks whose sizes the first bytes choose.
    static let multipart: Target = { bytes in
        guard bytes.count >= 2 else { return }
        let boundaries = ["b", "castbridge-boundary", String(repeating: "-", count: 70)]
        guard var reader = try? MultipartReader(boundary: boundaries[Int(bytes[0]) % boundaries.count]) else { return }
        let split = max(1, Int(bytes[1]))
        var body = bytes[2...]
        while !body.isEmpty {
            let chunk = Array(body.prefix(split))
            body = body.dropFirst(split)
            let events = chunk.withUnsafeBytes { (try? reader.feed($0)) }
            guard let events else { return }
            for case .body(let range) in events where range.lowerBound < 0 || range.upperBound > chunk.count {
                fatalError("a body range outside its chunk: \(range) of \(chunk.count)")
            }
        }
        _ = try? reader.finish()
    }

    /// A mapping file (YAML).
    static let mappingFile: Target = { bytes in
        _ = MappingFile.load([("fuzz.yaml", text(bytes))])
    }

    /// Headers and addresses: a bearer header, a token's header, IP addresses and ranges, timestamps, outbound URLs.
    static let tokenAndAddresses: Target = { bytes in
        let s = text(bytes)
        _ = BearerHeader.token(s)
        _ = BearerHeader.token("Bearer " + s)
        _ = JWTHeaderFields.parse(s)
        _ = IPAddress(s)
        _ = CIDR(s)
        _ = Timestamp.parse(s)
        _ = Timestamp.normalize(s)
        _ = OutboundURL.problem(s)
    }

    /// What an image display reads from an imagingstudy-open, and what a scene hook prints.
    static let imagingStudyOpen: Target = { bytes in
        guard let value = json(bytes) else { return }
        _ = try? ImagingStudyOpen.plan(context: value, defaultDICOMwebRoot: "http://pacs")
        _ = try? SceneHookOutput.parse(value)
        _ = PNGHeader.size(bytes)
        if let name = value.stringValue {
            _ = LocalFileName.safe(name, fallback: "f")
            _ = ResultKind.sendName(name)
        }
    }
}
