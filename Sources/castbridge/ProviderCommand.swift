import ArgumentParser
import CastRoles
import Foundation

/// `castbridge provider`: a Cast service provider that runs a program on each batch users send (Docs/provider.md).
struct ProviderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provider",
        abstract: "Run a Cast service provider: an onMessage program on every dicom-send and nifti-send batch, results sent back.")

    @OptionGroup var hub: CastHubOptions
    @Option(help: "The product name apps see and address.")
    var product: String
    @Option(help: "The product version.")
    var version: String = "1.0"
    @Option(help: "The subscriber name. (default: the product name)")
    var name: String?
    @Option(help: "The program to run for each batch (any executable); its job folder is its last argument.")
    var onMessage: String
    @Option(help: "Folder for job folders. (default: a castbridge-provider folder in the temporary directory)")
    var workDir: String?
    @Option(help: "Jobs run at once.")
    var concurrency: Int = 2
    @Option(help: "Jobs that may wait; beyond, senders are told the provider is busy.")
    var queueLimit: Int = 16
    @Option(help: "Seconds a job may run before it is stopped and reported.")
    var jobTimeout: Double = 600
    @Option(help: "Bytes one batch may bring.")
    var maxInputBytes: Int = 4 << 30
    @Option(help: "Where results go: sender (the app that sent the batch) or topic (every app of the user's topic).")
    var resultsTo: String = "sender"
    @Flag(help: "Keep job folders after their job, to debug an onMessage program.")
    var keepJobs = false

    /// Bad options are said before anything starts, with this command's usage.
    func validate() throws {
        _ = try configuration()
        _ = try hub.logger("castbridge.provider")
    }

    func run() async throws {
        let config = try configuration()
        let logger = try hub.logger("castbridge.provider")
        try FileManager.default.createDirectory(atPath: config.workDirectory, withIntermediateDirectories: true)
        let runner = ProviderRunner(config: config, logger: logger)
        try await RoleService.run(logger: logger) { await runner.run() }
    }

    func configuration() throws -> ProviderConfiguration {
        guard !product.isEmpty, product != "*" else { throw ValidationError("--product must be a name") }
        guard FileManager.default.isExecutableFile(atPath: onMessage) else { throw ValidationError("--on-message \(onMessage) is not an executable file") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard queueLimit >= 0 else { throw ValidationError("--queue-limit must be 0 or more") }
        guard jobTimeout > 0 else { throw ValidationError("--job-timeout must be a positive number of seconds") }
        guard let target = ProviderConfiguration.ResultsTo(rawValue: resultsTo) else { throw ValidationError("--results-to must be sender or topic") }
        let work = workDir ?? FileManager.default.temporaryDirectory.appendingPathComponent("castbridge-provider").path
        return ProviderConfiguration(
            hubURL: hub.hub, auth: try hub.credentials(), product: product, version: version, subscriberName: name, onMessage: onMessage,
            workDirectory: work, concurrency: concurrency, queueLimit: queueLimit, jobTimeoutSeconds: jobTimeout, maxInputBytes: maxInputBytes,
            resultsTo: target, keepJobs: keepJobs)
    }
}
