import ArgumentParser
import CastRoles
import Foundation

/// `castbridge display`: an image display client that opens the studies a user's apps open (Docs/display.md).
struct DisplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "display",
        abstract: "Run a Cast image display client: imagingstudy-open fetches the study and runs a viewer; STATUS and SCENEVIEW are answered.")

    @OptionGroup var hub: CastHubOptions
    @Option(help: "The user's topic.")
    var topic: String
    @Option(help: "The subscriber name. (default: <product>-<topic>)")
    var name: String?
    @Option(help: "The product name apps see and address.")
    var product: String = "castbridge-display"
    @Option(help: "The viewer command; the study's folder is added as its last argument.")
    var viewer: String
    @Option(help: "Run at imagingstudy-close, with the study's folder as its last argument.")
    var close: String?
    @Option(help: "Prints the viewer's scene as JSON for STATUS and SCENEVIEW (layout, viewports, thumbnail paths).")
    var sceneHook: String?
    @Option(help: "The DICOMweb server for events that name a study but no urn:cast:dicomweb-root.")
    var dicomwebRoot: String?
    @Option(help: "Folder the studies are fetched into. (default: a castbridge-display folder in the temporary directory)")
    var cacheDir: String?
    @Option(help: "Studies kept in the cache.")
    var keepStudies: Int = 3
    @Option(help: "Seconds the viewer and close commands may take.")
    var commandTimeout: Double = 120
    @Option(help: "Bytes one study may take.")
    var maxStudyBytes: Int = 8 << 30

    /// Bad options are said before anything starts, with this command's usage.
    func validate() throws {
        _ = try configuration()
        _ = try hub.logger("castbridge.display")
    }

    func run() async throws {
        let config = try configuration()
        let logger = try hub.logger("castbridge.display")
        let client = DisplayClient(config: config, logger: logger)
        try await RoleService.run(logger: logger) { await client.run() }
    }

    func configuration() throws -> DisplayConfiguration {
        guard !topic.isEmpty, topic != "*" else { throw ValidationError("--topic must be one user's topic") }
        func command(_ text: String?, _ flag: String) throws -> [String]? {
            guard let text else { return nil }
            let words = try CommandLineWords.split(text)
            guard let program = words.first, FileManager.default.isExecutableFile(atPath: program) else {
                throw ValidationError("\(flag) must start with an executable file: \(text)")
            }
            return words
        }
        if let root = dicomwebRoot, !(root.hasPrefix("http://") || root.hasPrefix("https://")) {
            throw ValidationError("--dicomweb-root must be an http:// or https:// URL")
        }
        guard keepStudies >= 1 else { throw ValidationError("--keep-studies must be at least 1") }
        guard commandTimeout > 0 else { throw ValidationError("--command-timeout must be a positive number of seconds") }
        let cache = cacheDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("castbridge-display").path
        return DisplayConfiguration(
            hubURL: hub.hub, auth: try hub.credentials(), topic: topic, subscriberName: name, product: product, cacheDirectory: cache,
            viewerCommand: try command(viewer, "--viewer") ?? [], closeCommand: try command(close, "--close"),
            sceneHook: try command(sceneHook, "--scene-hook"), dicomwebRoot: dicomwebRoot.map { String($0.reversed().drop(while: { $0 == "/" }).reversed()) },
            commandTimeoutSeconds: commandTimeout, maxStudyBytes: maxStudyBytes, keepStudies: keepStudies)
    }
}
