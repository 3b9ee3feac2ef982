import ArgumentParser
import Foundation
import Testing
import Yams

@testable import castbridge

/// Issue #14: what can be checked of the containers without a Docker engine (none runs here): the compose file parses,
/// everything it names exists or is documented, and the Keycloak realm has what castbridge reads.
@Suite("Deployment files: Dockerfile, docker-compose.yml, the Keycloak realm")
struct DeploymentFilesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    static func compose() throws -> [String: Any] {
        guard let compose = try Yams.load(yaml: try text("docker-compose.yml")) as? [String: Any] else {
            throw TestFailure("docker-compose.yml is not a mapping")
        }
        return compose
    }

    static func services() throws -> [String: [String: Any]] {
        (try compose()["services"] as? [String: [String: Any]]) ?? [:]
    }

    @Test("docker-compose.yml: castbridge with --auth oidc on PostgreSQL, Keycloak importing the realm file; a second node and a proxy in the cluster profile")
    func composeServices() throws {
        let services = try Self.services()
        #expect(Set(services.keys) == ["castbridge", "castbridge-2", "postgres", "keycloak", "proxy"])
        let castbridge = try #require(services["castbridge"])
        let environment = castbridge["environment"] as? [String: Any] ?? [:]
        #expect(environment["CASTBRIDGE_AUTH"] as? String == "oidc")
        #expect((environment["CASTBRIDGE_STORE"] as? String)?.hasPrefix("postgres://castbridge:") == true)
        #expect((environment["CASTBRIDGE_STORE"] as? String)?.contains("@postgres:5432/") == true)
        #expect((environment["CASTBRIDGE_OIDC_ISSUER"] as? String)?.hasSuffix("/realms/castbridge") == true)
        #expect(services["castbridge"]?["profiles"] == nil && services["postgres"]?["profiles"] == nil && services["keycloak"]?["profiles"] == nil)
        #expect(services["castbridge-2"]?["profiles"] as? [String] == ["cluster"])
        #expect(services["proxy"]?["profiles"] as? [String] == ["cluster"])
        #expect((services["keycloak"]?["command"] as? [String])?.contains("--import-realm") == true)
        let keycloakVolumes = services["keycloak"]?["volumes"] as? [String] ?? []
        #expect(keycloakVolumes.contains { $0.hasPrefix("./deploy/keycloak/castbridge-realm.json:/opt/keycloak/data/import/") })
    }

    @Test("Every file the compose file mounts or builds from exists; every CASTBRIDGE_ variable is an option; every image is pinned and documented; every port and ${VARIABLE} is documented")
    func composeReferences() throws {
        let services = try Self.services()
        let deployment = try Self.text("Docs/deployment.md")
        let options = ConfigFile.optionNames(of: try Serve.parse([]))
        for (name, service) in services {
            if let build = service["build"] as? String {
                #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(build).appendingPathComponent("Dockerfile").path), "\(name)")
            }
            for volume in service["volumes"] as? [String] ?? [] where volume.hasPrefix("./") {
                let source = String(volume.split(separator: ":")[0])
                #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(source).path), "\(name): \(source)")
            }
            for (key, _) in service["environment"] as? [String: Any] ?? [:] where key.hasPrefix("CASTBRIDGE_") {
                let option = key.dropFirst("CASTBRIDGE_".count).lowercased().replacingOccurrences(of: "_", with: "-")
                #expect(options.contains(option), "\(name): \(key) is no option of castbridge serve")
            }
            if let image = service["image"] as? String, service["build"] == nil {
                #expect(image.contains(":") && !image.hasSuffix(":latest"), "\(name): \(image) is not pinned")
                #expect(deployment.contains(image), "\(name): \(image) is not in Docs/deployment.md")
            }
            for port in service["ports"] as? [String] ?? [] {
                let published = String(port.split(separator: ":")[0])
                #expect(deployment.contains(":\(published)"), "\(name): port \(published) is not in Docs/deployment.md")
            }
        }
        let compose = try Self.text("docker-compose.yml")
        let variables = Set(compose.matches(of: /\$\{([A-Z_]+)(:-[^}]*)?\}/).map { String($0.output.1) })
        #expect(!variables.isEmpty)
        for variable in variables { #expect(deployment.contains("`\(variable)`"), "${\(variable)} is not in Docs/deployment.md") }
        let proxy = try Self.text("deploy/nginx/castbridge.conf")
        #expect(proxy.contains("server castbridge:8080") && proxy.contains("server castbridge-2:8080"))
        #expect(proxy.contains("proxy_set_header Upgrade $http_upgrade"))
    }

    @Test("The Dockerfile: multi-stage on the official Swift image, a slim runtime, a non-root user, HEALTHCHECK on /health/live")
    func dockerfile() throws {
        let lines = try Self.text("Dockerfile").split(separator: "\n").map(String.init)
        let stages = lines.filter { $0.hasPrefix("FROM ") }
        #expect(stages.count == 2)
        #expect(stages.first?.hasPrefix("FROM swift:") == true)
        #expect(stages.last?.contains("-slim") == true)
        let user = try #require(lines.last { $0.hasPrefix("USER ") })
        #expect(user != "USER root" && user != "USER 0")
        let health = lines.drop { !$0.hasPrefix("HEALTHCHECK") }.prefix(2).joined()
        #expect(health.contains("/health/live"))
        #expect(lines.contains { $0.hasPrefix("EXPOSE 8080") })
        for copy in lines where copy.hasPrefix("COPY ") && !copy.contains("--from") {
            let source = copy.split(separator: " ")[1]
            #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(String(source)).path), "\(copy)")
        }
        let ignored = try Self.text(".dockerignore")
        #expect(ignored.contains(".build") && ignored.contains(".git"))
    }

    @Test("The Keycloak realm is JSON with the roles, clients, scopes and mappers castbridge reads")
    func realm() throws {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("deploy/keycloak/castbridge-realm.json"))
        let realm = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(realm["realm"] as? String == "castbridge")
        let roles = ((realm["roles"] as? [String: Any])?["realm"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(Set(roles).isSuperset(of: ["castbridge-admin", "castbridge-any-topic"]))
        let clients = realm["clients"] as? [[String: Any]] ?? []
        let byID = Dictionary(uniqueKeysWithValues: clients.compactMap { c in (c["clientId"] as? String).map { ($0, c) } })
        #expect(Set(byID.keys) == ["fhircast-app", "cast-app", "service-provider", "castbridge-bridge", "castbridge-console"])
        #expect(byID["castbridge-console"]?["directAccessGrantsEnabled"] as? Bool == true)
        #expect(byID["castbridge-bridge"]?["serviceAccountsEnabled"] as? Bool == true)
        for (id, client) in byID {
            #expect((client["defaultClientScopes"] as? [String])?.contains("castbridge-topic") == true, "\(id)")
        }
        let scopes = realm["clientScopes"] as? [[String: Any]] ?? []
        let topicScope = try #require(scopes.first { $0["name"] as? String == "castbridge-topic" })
        let mappers = topicScope["protocolMappers"] as? [[String: Any]] ?? []
        let claims = mappers.compactMap { ($0["config"] as? [String: String])?["claim.name"] }
        #expect(Set(claims).isSuperset(of: ["hub\\.topic", "topic", "realm_access.roles"]))
        #expect(mappers.contains { ($0["config"] as? [String: String])?["included.custom.audience"] == "castbridge" })
        let users = (realm["users"] as? [[String: Any]] ?? []).compactMap { $0["username"] as? String }
        #expect(users.contains("admin") && users.contains("alice"))
        for scope in ["fhircast/*.read", "fhircast/*.write"] { #expect(scopes.contains { $0["name"] as? String == scope }) }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
