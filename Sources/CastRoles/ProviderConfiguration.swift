import CastClient

/// How `castbridge provider` runs (Docs/provider.md).
public struct ProviderConfiguration: Sendable {
    /// Where result files go: to the app that sent the batch only, or to every app of the user's topic.
    public enum ResultsTo: String, Sendable, CaseIterable {
        case sender
        case topic
    }

    public var hubURL: String
    public var auth: CastUpstreamAuth
    /// The product name apps see and address (`target.product.name`), and the subscriber name's stem.
    public var product: String
    public var version: String
    public var subscriberName: String
    public var actors: [String]
    /// `*`: every user's topic.
    public var topic: String
    /// The `onMessage` program and the arguments before the job folder.
    public var onMessage: String
    public var onMessageArguments: [String]
    /// Jobs get folders under `<workDirectory>/<job id>`.
    public var workDirectory: String
    public var concurrency: Int
    public var queueLimit: Int
    public var jobTimeoutSeconds: Double
    /// The most bytes one batch may bring.
    public var maxInputBytes: Int
    public var resultsTo: ResultsTo
    /// Keep job folders after the job (for debugging an onMessage program).
    public var keepJobs: Bool
    public var reconnectBaseSeconds: Double
    public var reconnectMaxSeconds: Double
    /// How long a status-update or a result is tried again while the hub cannot be reached.
    public var deliveryPatienceSeconds: Double

    public static let events = ["dicom-send", "nifti-send", "status-request"]

    public init(
        hubURL: String, auth: CastUpstreamAuth = .none, product: String, version: String = "1.0", subscriberName: String? = nil,
        actors: [String] = ["EC"], topic: String = "*", onMessage: String, onMessageArguments: [String] = [], workDirectory: String,
        concurrency: Int = 2, queueLimit: Int = 16, jobTimeoutSeconds: Double = 600, maxInputBytes: Int = 4 << 30,
        resultsTo: ResultsTo = .sender, keepJobs: Bool = false, reconnectBaseSeconds: Double = 0.5, reconnectMaxSeconds: Double = 30,
        deliveryPatienceSeconds: Double = 60
    ) {
        self.hubURL = hubURL
        self.auth = auth
        self.product = product
        self.version = version
        self.subscriberName = subscriberName ?? product
        self.actors = actors
        self.topic = topic
        self.onMessage = onMessage
        self.onMessageArguments = onMessageArguments
        self.workDirectory = workDirectory
        self.concurrency = concurrency
        self.queueLimit = queueLimit
        self.jobTimeoutSeconds = jobTimeoutSeconds
        self.maxInputBytes = maxInputBytes
        self.resultsTo = resultsTo
        self.keepJobs = keepJobs
        self.reconnectBaseSeconds = reconnectBaseSeconds
        self.reconnectMaxSeconds = reconnectMaxSeconds
        self.deliveryPatienceSeconds = deliveryPatienceSeconds
    }

    public var subscriber: CastSubscriber {
        CastSubscriber(topic: topic, events: Self.events, name: subscriberName, actors: actors, productName: product, productVersion: version)
    }
}
