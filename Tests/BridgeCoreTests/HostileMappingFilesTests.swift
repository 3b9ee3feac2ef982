import BridgeCore
import Testing
import TestSupport

/// Mapping files are read at start-up and by `castbridge mappings check`: a broken one must be a list of reasons,
/// never a trap (issue #18, Docs/reliability.md).
@Suite("Hostile mapping files")
struct HostileMappingFilesTests {
    /// YAML that has broken loaders elsewhere: aliases, tags, deep nesting (libyaml stops it), odd numbers.
    static let snippets = [
        "events: &a [*a]", "x: &a [1, 2]\nevents: [*a, *a, *a]", "events: !!binary aGVsbG8=", "events: !custom {fhircast: a}",
        "events: " + String(repeating: "[", count: 5_000), "binary: {maxFileBytes: 99999999999999999999999}",
        "binary: {maxBatchBytes: -9223372036854775808, inlineMaxBytes: .nan}", "binary: {inlineMaxBytes: 0x7fffffffffffffff}",
        "version: 1e400", "requests: [{dataType: '', cast: '', action: forward, fhircast: ''}]", "\u{FEFF}\u{0000}", "? [a, b]\n: c",
        "events: [{fhircast: Patient-open, cast: patient-open, direction: sideways}]", "unmappedFHIRcast: [drop]",
    ]

    @Test("Issue 18: 2,000 seeded mutations of the default mappings and hostile YAML load or fail with reasons")
    func mutatedMappingFiles() {
        var random = SplitMix64(seed: 0x18_AA77)
        var outcomes = (loaded: 0, refused: 0)
        for round in 0..<2_000 {
            var text: String
            if round % 4 == 0 {
                text = Self.snippets[random.next(upTo: Self.snippets.count)]
            } else {
                var bytes = Array(DefaultMappings.yaml.utf8)
                for _ in 0...random.next(upTo: 3) { Mutations.mutateBytes(&bytes, &random) }
                text = String(decoding: bytes, as: UTF8.self)
            }
            switch MappingFile.load([("site.yaml", text)]) {
            case .success: outcomes.loaded += 1
            case .failure(let errors):
                outcomes.refused += 1
                #expect(!errors.errors.isEmpty && errors.errors.allSatisfy { !$0.description.isEmpty }, "round \(round)")
            }
        }
        #expect(outcomes.loaded > 50 && outcomes.refused > 500, "\(outcomes)")
    }
}
