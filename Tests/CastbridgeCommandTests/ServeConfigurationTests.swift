import ArgumentParser
import CastCore
import CastbridgeServer
import FHIRcastCore
import Logging
import Testing

@testable import castbridge

/// `castbridge serve` options: every flag also settable by a CASTBRIDGE_* variable, the flag winning.
@Suite("castbridge serve configuration")
struct ServeConfigurationTests {
    func configuration(_ arguments: [String], _ environment: [String: String] = [:]) throws -> ServerConfiguration {
        try Serve.parse(arguments).makeConfiguration(environment: environment)
    }

    @Test("Defaults: 127.0.0.1:8080, info, a 7200 s lease, 10 s ACKs, exact Cast matching")
    func defaults() throws {
        let c = try configuration([])
        #expect(c.host == "127.0.0.1" && c.port == 8080 && c.publicURL == nil && c.logLevel == .info)
        #expect(c.hub.maxLeaseSeconds == 7200 && c.hub.ackTimeoutSeconds == 10 && c.castEventMatching == .exact)
        #expect(!c.castRequireAuth && !c.castSingleUser)
    }

    @Test("Environment variables set every option; a flag given on the command line wins")
    func environmentAndFlags() throws {
        let env = [
            "CASTBRIDGE_HOST": "0.0.0.0", "CASTBRIDGE_PORT": "9000", "CASTBRIDGE_PUBLIC_URL": "https://hub.example.org",
            "CASTBRIDGE_LOG_LEVEL": "DEBUG", "CASTBRIDGE_MAX_LEASE": "600", "CASTBRIDGE_ACK_TIMEOUT": "0",
            "CASTBRIDGE_PING_INTERVAL": "5", "CASTBRIDGE_MAX_BODY": "4096", "CASTBRIDGE_SEND_BUFFER": "16",
            "CASTBRIDGE_CAST_EVENT_MATCHING": "substring", "CASTBRIDGE_CAST_REQUIRE_AUTH": "true",
            "CASTBRIDGE_CAST_SINGLE_USER": "1", "CASTBRIDGE_CAST_JWT_SECRET": String(repeating: "k", count: 32),
        ]
        let c = try configuration([], env)
        #expect(c.host == "0.0.0.0" && c.port == 9000 && c.publicURL == "https://hub.example.org" && c.logLevel == .debug)
        #expect(c.hub.maxLeaseSeconds == 600 && c.hub.defaultLeaseSeconds == 600 && c.hub.ackTimeoutSeconds == 0)
        #expect(c.pingIntervalSeconds == 5 && c.maxBodyBytes == 4096 && c.sendBufferMessages == 16)
        #expect(c.castEventMatching == .substring && c.castRequireAuth && c.castSingleUser)
        #expect(c.castJWTSecret == String(repeating: "k", count: 32))
        #expect(try configuration(["--port", "7000", "--host", "::1"], env).port == 7000)
        #expect(try configuration(["--port", "7000", "--host", "::1"], env).host == "::1")
    }

    @Test("Bad values are refused with a ValidationError")
    func badValues() throws {
        for (arguments, env) in [
            ([String](), ["CASTBRIDGE_PORT": "abc"]), (["--port", "70000"], [:]), (["--log-level", "loud"], [:]),
            (["--public-url", "hub.example.org"], [:]), (["--max-lease", "0"], [:]), (["--ack-timeout=-1"], [:]),
            (["--max-body", "10"], [:]), (["--send-buffer", "1"], [:]), (["--cast-event-matching", "fuzzy"], [:]),
            (["--cast-jwt-secret", "short"], [:]),
        ] {
            #expect(throws: ValidationError.self, "\(arguments) \(env)") { try configuration(arguments, env) }
        }
    }
}
