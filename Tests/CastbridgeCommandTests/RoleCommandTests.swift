import ArgumentParser
import CastClient
import CastRoles
import Testing

@testable import castbridge

/// `castbridge provider` and `castbridge display` options: what they become, and a clear refusal of each bad one.
@Suite("castbridge provider and display options")
struct RoleCommandTests {
    @Test("provider: defaults, the hub's login modes, and results to the sender unless told")
    func provider() throws {
        let config = try ProviderCommand.parse(["--product", "SEG", "--on-message", "/bin/true"]).configuration()
        #expect(config.hubURL == "http://127.0.0.1:8080")
        #expect(config.auth == .none)
        #expect(config.subscriberName == "SEG")
        #expect(config.topic == "*")
        #expect(config.concurrency == 2 && config.queueLimit == 16 && config.jobTimeoutSeconds == 600)
        #expect(config.resultsTo == .sender)
        let mock = try ProviderCommand.parse(["--product", "SEG", "--on-message", "/bin/true", "--hub", "http://h:2018", "--auth", "mock", "--user", "u", "--results-to", "topic"]).configuration()
        #expect(mock.auth == .mockOAuth(user: "u"))
        #expect(mock.resultsTo == .topic)
        let cc = try ProviderCommand.parse(["--product", "SEG", "--on-message", "/bin/true", "--hub", "http://h:2018/api/hub", "--auth", "client-credentials", "--client-id", "c"]).configuration()
        #expect(cc.auth == .clientCredentials(tokenURL: "http://h:2018/oauth/token", clientID: "c", clientSecret: ""))
    }

    @Test("provider: a program that is not executable, a bad limit, an unknown login or results mode, a bad hub URL are refused with the reason")
    func providerRefusals() {
        for (arguments, reason) in [
            (["--on-message", "/nonexistent"], "is not an executable file"),
            (["--on-message", "/bin/true", "--concurrency", "0"], "--concurrency"),
            (["--on-message", "/bin/true", "--job-timeout", "0"], "--job-timeout"),
            (["--on-message", "/bin/true", "--auth", "magic"], "unknown --auth"),
            (["--on-message", "/bin/true", "--auth", "bearer"], "needs --token"),
            (["--on-message", "/bin/true", "--results-to", "all"], "sender or topic"),
            (["--on-message", "/bin/true", "--hub", "ftp://h"], "--hub"),
        ] {
            #expect {
                try ProviderCommand.parse(["--product", "SEG"] + arguments).configuration()
            } throws: { error in
                "\(error)".contains(reason)
            }
        }
    }

    @Test("display: its commands split into words with quotes kept, its DICOMweb root without a trailing slash; one user's topic only")
    func display() throws {
        let config = try DisplayCommand.parse(["--topic", "U1", "--viewer", "/bin/echo 'two words' x", "--scene-hook", "/bin/true", "--dicomweb-root", "http://pacs/dicom-web/"]).configuration()
        #expect(config.viewerCommand == ["/bin/echo", "two words", "x"])
        #expect(config.sceneHook == ["/bin/true"])
        #expect(config.closeCommand == nil)
        #expect(config.dicomwebRoot == "http://pacs/dicom-web")
        #expect(config.subscriberName == "castbridge-display-U1")
        #expect(config.actors == ["ID"])
        for (arguments, reason) in [
            (["--topic", "*", "--viewer", "/bin/true"], "one user's topic"),
            (["--topic", "U1", "--viewer", "/nonexistent"], "executable"),
            (["--topic", "U1", "--viewer", "/bin/true 'open"], "unbalanced quote"),
            (["--topic", "U1", "--viewer", "/bin/true", "--dicomweb-root", "pacs"], "--dicomweb-root"),
            (["--topic", "U1", "--viewer", "/bin/true", "--keep-studies", "0"], "--keep-studies"),
        ] {
            #expect {
                try DisplayCommand.parse(arguments).configuration()
            } throws: { error in
                "\(error)".contains(reason)
            }
        }
    }
}
