import ArgumentParser
import CastbridgeServer
import FHIRcastCore
import StateStores
import Foundation
import Logging
import Synchronization
import Testing

@testable import castbridge

/// Issue #14: `--config FILE`, `--log-format`, and the one table of options in Docs/operations.md.
@Suite("castbridge serve --config and --log-format")
struct ConfigFileTests {
    func file(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("castbridge-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func configuration(_ arguments: [String], _ environment: [String: String] = [:]) throws -> ServerConfiguration {
        try Serve.parse(arguments).makeConfiguration(environment: environment)
    }

    @Test("A YAML file sets any option; the environment wins over it, and a flag over both; unset options keep their defaults")
    func precedence() throws {
        let path = try file(
            """
            port: 9000
            max-lease: 3600
            log-level: debug
            store: memory
            cors-origins: [https://a.example, https://b.example]
            no-bridge: true
            cast-jwt-secret: a-file-secret-that-is-long-enough-32
            """)
        let fromFile = try configuration(["--config", path])
        #expect(fromFile.port == 9000)
        #expect(fromFile.hub.maxLeaseSeconds == 3600)
        #expect(fromFile.logLevel == .debug)
        #expect(fromFile.store == .memory)
        #expect(fromFile.corsOrigins == ["https://a.example", "https://b.example"])
        #expect(!fromFile.bridgeEnabled)
        #expect(fromFile.castJWTSecret == "a-file-secret-that-is-long-enough-32")
        #expect(fromFile.host == "127.0.0.1")  // not in the file: the default
        let environment = try configuration(["--config", path], ["CASTBRIDGE_PORT": "9100"])
        #expect(environment.port == 9100)
        #expect(environment.hub.maxLeaseSeconds == 3600)
        let flag = try configuration(["--config", path, "--port", "9200"], ["CASTBRIDGE_PORT": "9100"])
        #expect(flag.port == 9200)
        // CASTBRIDGE_CONFIG names the file too.
        #expect(try configuration([], ["CASTBRIDGE_CONFIG": path]).port == 9000)
    }

    @Test("A file's values are checked as a flag's are, and an unknown key, a nested mapping, bad YAML or a missing file is refused with the file and the key")
    func badFiles() throws {
        func refusal(_ yaml: String) throws -> String {
            let path = try file(yaml)
            do {
                _ = try configuration(["--config", path])
            } catch let error as ValidationError {
                return error.message
            }
            Issue.record("accepted: \(yaml)")
            return ""
        }
        #expect(try refusal("max-lease: -5").contains("lease"))
        let unknown = try refusal("max-leases: 60")
        #expect(unknown.contains("'max-leases'") && unknown.contains("max-lease"))
        #expect(try refusal("store:\n  kind: memory").contains("mapping"))
        #expect(try refusal("port: [").contains("not valid YAML"))
        #expect(try refusal("- port").contains("mapping of option names"))
        #expect(throws: ValidationError.self) { try configuration(["--config", "/nonexistent/castbridge.yaml"]) }
    }

    @Test("Every option of castbridge serve is a key of the file, named as its flag")
    func optionNames() throws {
        let names = ConfigFile.optionNames(of: try Serve.parse([]))
        for name in ["max-lease", "cast-jwt-secret", "cast-client-id", "tls-cert", "allow-anonymous", "log-format", "admin-show-ids", "no-bridge"] {
            #expect(names.contains(name), "\(name)")
        }
        #expect(ConfigFile.kebab("castJWTSecret") == "cast-jwt-secret")
        #expect(ConfigFile.kebab("castClientID") == "cast-client-id")
        #expect(ConfigFile.kebab("publicURL") == "public-url")
    }

    @Test("Docs/operations.md's table lists every option with its variable and file key")
    func documented() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Docs/operations.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        for name in ConfigFile.optionNames(of: try Serve.parse([])) {
            let variable = "CASTBRIDGE_" + name.uppercased().replacingOccurrences(of: "-", with: "_")
            #expect(text.contains("`--\(name)`") && text.contains("`\(variable)`"), "\(name) is not in the table")
        }
    }

    @Test("--log-format: text by default, json when told (CASTBRIDGE_LOG_FORMAT too), anything else refused")
    func logFormat() throws {
        #expect(try configuration([]).logFormat == .text)
        #expect(try configuration(["--log-format", "json"]).logFormat == .json)
        #expect(try configuration([], ["CASTBRIDGE_LOG_FORMAT": "JSON"]).logFormat == .json)
        #expect(throws: ValidationError.self) { try configuration(["--log-format", "xml"]) }
    }

    @Test("A JSON log line is one object with time, level, label, message and the metadata")
    func jsonLines() throws {
        let lines = Mutex<[String]>([])
        var handler = JSONLogHandler(label: "castbridge") { line in lines.withLock { $0.append(line) } }
        handler.logLevel = .info
        let logger = Logger(label: "castbridge") { _ in handler }
        logger.info("request", metadata: ["status": "200", "path": "/fhircast/STU3"])
        logger.debug("not at info")
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        #expect(written.first?.hasSuffix("\n") == true)
        let object = try JSONSerialization.jsonObject(with: Data((written.first ?? "").utf8)) as? [String: String]
        #expect(object?["message"] == "request" && object?["level"] == "info" && object?["label"] == "castbridge")
        #expect(object?["status"] == "200" && object?["path"] == "/fhircast/STU3" && object?["time"] != nil)
    }
}
