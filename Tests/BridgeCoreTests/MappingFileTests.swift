import BridgeCore
import FHIRcastCore
import Foundation
import Testing

@Suite("Mapping files")
struct MappingFileTests {
    static func load(_ text: String, name: String = "site.yaml") -> Result<MappingSet, MappingErrors> {
        MappingFile.load([(name, text)])
    }

    static func errors(_ text: String) -> [MappingError] {
        if case .failure(let e) = load(text) { return e.errors }
        return []
    }

    @Test("The shipped mappings/default.yaml is the built-in default, and it loads")
    func shippedDefault() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = try String(contentsOf: root.appendingPathComponent("mappings/default.yaml"), encoding: .utf8)
        #expect(shipped.trimmingCharacters(in: .newlines) == DefaultMappings.yaml.trimmingCharacters(in: .newlines))
        let set = try Self.load(DefaultMappings.yaml).get()
        for entry in EventCatalog.entries where entry.name != "SyncError" {
            #expect(set.castName(forFHIRcast: entry.name) == entry.name.lowercased(), "\(entry.name)")
            #expect(set.fhircastName(forCast: entry.name.lowercased()) == entry.name)
        }
        #expect(set.fhircastName(forCast: "annotation-update") == "org.castbridge.annotation_update")
        #expect(set.castName(forFHIRcast: "org.castbridge.conference_start") == nil)  // to-fhircast only
        #expect(set.request(forCastEvent: "status-request")?.action == .answerFromContext)
        #expect(set.castSubscriptionEvents.contains("status-request"))
        #expect(!set.castSubscriptionEvents.contains("sceneview-request"))  // ignored verbs are not subscribed
        for name in set.declaredFHIRcastNames { #expect(EventCatalog.problem(withName: name) == nil, "\(name)") }
    }

    @Test("A custom event and a custom request verb need only a mapping file")
    func customRules() throws {
        let set = try Self.load("""
            events:
              - fhircast: com.example.viewer_sync
                cast: viewer-sync
            requests:
              - dataType: REPORTTEXT
                action: forward
                fhircast: com.example.reporttext_request
            """).get()
        #expect(set.fhircastName(forCast: "Viewer-Sync") == "com.example.viewer_sync")
        #expect(set.castName(forFHIRcast: "com.example.viewer_sync") == "viewer-sync")
        #expect(set.request(forDataType: "reporttext")?.castEvent == "reporttext-request")
        #expect(set.castSubscriptionEvents == ["viewer-sync", "reporttext-request"])
    }

    @Test("Errors name the file, the line and the problem")
    func located() {
        let e = Self.errors("""
            events:
              - fhircast: Patient-open
                cast: patient-open
              - fhircast: annotation-update
                cast: annotation-update
            """)
        #expect(e.count == 1)
        #expect(e.first?.file == "site.yaml")
        #expect(e.first?.line == 4)
        #expect(e.first?.description.hasPrefix("site.yaml:4:") == true)
        #expect(e.first?.message.contains("reverse-domain") == true)
    }

    @Test("Bad input: syntax, unknown keys, wrong types, bad values, clashes; all reported")
    func badInput() {
        #expect(Self.errors("events: [ {fhircast: Patient-open").first?.message.hasPrefix("not valid YAML") == true)
        #expect(Self.errors("eventz: []").first?.message.contains("unknown key 'eventz'") == true)
        #expect(Self.errors("events: {a: b}").first?.message.contains("must be a list") == true)
        #expect(Self.errors("events:\n  - {fhircast: Patient-open, cast: patient-open, colour: red}").first?.message.contains("unknown key 'colour'") == true)
        #expect(Self.errors("events:\n  - {fhircast: Patient-open}").first?.message.contains("'cast' is required") == true)
        #expect(Self.errors("events:\n  - {fhircast: Patient-open, cast: 'a,b'}").first?.message.contains("comma") == true)
        #expect(Self.errors("events:\n  - {fhircast: Patient-open, cast: status-request}").first?.message.contains("under 'requests'") == true)
        #expect(Self.errors("events:\n  - {fhircast: Patient-open, cast: x, direction: sideways}").first?.message.contains("direction must be one of") == true)
        #expect(Self.errors("requests:\n  - {dataType: STATUS, action: shout}").first?.message.contains("action must be one of") == true)
        #expect(Self.errors("requests:\n  - {dataType: STATUS, action: forward}").first?.message.contains("needs 'fhircast'") == true)
        #expect(Self.errors("requests:\n  - {dataType: STATUS, action: ignore, fhircast: a.b}").first?.message.contains("only used with action 'forward'") == true)
        #expect(Self.errors("requests:\n  - {dataType: 'A B', action: ignore}").first?.message.contains("letters, digits") == true)
        let clash = Self.errors("events:\n  - {fhircast: Patient-open, cast: a}\n  - {fhircast: patient-OPEN, cast: b}")
        #expect(clash.first?.line == 3)
        #expect(clash.first?.message.contains("already mapped to Cast 'a' at site.yaml:2") == true)
        #expect(Self.errors("events:\n  - {fhircast: Patient-open, cast: a}\n  - 7\n  - {fhircast: x.y, cast: b, extra: 1}").count == 2)
    }

    @Test("Clashes across files name both files; unmappedFHIRcast may be set once")
    func acrossFiles() {
        let result = MappingFile.load([
            ("a.yaml", "unmappedFHIRcast: drop\nevents:\n  - {fhircast: Patient-open, cast: patient-open}"),
            ("b.yaml", "unmappedFHIRcast: lowercase\nevents:\n  - {fhircast: Patient-open, cast: p-open}"),
        ])
        guard case .failure(let e) = result else {
            Issue.record("expected errors")
            return
        }
        #expect(e.errors.map(\.file) == ["b.yaml", "b.yaml"])
        #expect(e.description.contains("already set in a.yaml"))
        #expect(e.description.contains("at a.yaml:3"))
        if case .failure(let none) = MappingFile.load([]) {
            #expect(none.description.contains("no mapping files"))
        } else {
            Issue.record("an empty mapping directory must be an error")
        }
    }

    @Test("unmappedFHIRcast: drop keeps unmapped FHIRcast events away from Cast")
    func dropPolicy() throws {
        let set = try Self.load("unmappedFHIRcast: drop\nevents: []").get()
        #expect(set.castName(forFHIRcast: "Observation-open") == nil)
        let lower = try Self.load("events: []").get()
        #expect(lower.castName(forFHIRcast: "Observation-open") == "observation-open")
    }
}
