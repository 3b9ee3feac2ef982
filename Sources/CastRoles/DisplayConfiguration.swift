import CastClient

/// How `castbridge display` runs (Docs/display.md).
public struct DisplayConfiguration: Sendable {
    public var hubURL: String
    public var auth: CastUpstreamAuth
    /// The user's topic.
    public var topic: String
    public var subscriberName: String
    public var product: String
    public var version: String
    /// `ID`, the image display's role.
    public var actors: [String]
    /// Studies are fetched into `<cacheDirectory>/<study>`.
    public var cacheDirectory: String
    /// The viewer: a program and its first arguments; the study's folder is added last.
    public var viewerCommand: [String]
    /// Run at `imagingstudy-close`, with the closed study's folder last; none: nothing is run.
    public var closeCommand: [String]?
    /// Prints the scene (layout, viewports, thumbnail paths) as JSON for STATUS and SCENEVIEW.
    public var sceneHook: [String]?
    /// The DICOMweb server for events that name a study UID and no `urn:cast:dicomweb-root`.
    public var dicomwebRoot: String?
    public var commandTimeoutSeconds: Double
    /// The reference's image display allows itself 9 s to build a scene view.
    public var hookTimeoutSeconds: Double
    public var maxStudyBytes: Int
    /// Fetched studies kept in the cache; older ones are removed.
    public var keepStudies: Int
    public var reconnectBaseSeconds: Double
    public var reconnectMaxSeconds: Double

    public static let events = ["imagingstudy-open", "imagingstudy-close", "status-request", "sceneview-request"]

    public init(
        hubURL: String, auth: CastUpstreamAuth = .none, topic: String, subscriberName: String? = nil, product: String = "castbridge-display",
        version: String = "1.0", actors: [String] = ["ID"], cacheDirectory: String, viewerCommand: [String], closeCommand: [String]? = nil,
        sceneHook: [String]? = nil, dicomwebRoot: String? = nil, commandTimeoutSeconds: Double = 120, hookTimeoutSeconds: Double = 9,
        maxStudyBytes: Int = 8 << 30, keepStudies: Int = 3, reconnectBaseSeconds: Double = 0.5, reconnectMaxSeconds: Double = 30
    ) {
        self.hubURL = hubURL
        self.auth = auth
        self.topic = topic
        self.subscriberName = subscriberName ?? "\(product)-\(topic)"
        self.product = product
        self.version = version
        self.actors = actors
        self.cacheDirectory = cacheDirectory
        self.viewerCommand = viewerCommand
        self.closeCommand = closeCommand
        self.sceneHook = sceneHook
        self.dicomwebRoot = dicomwebRoot
        self.commandTimeoutSeconds = commandTimeoutSeconds
        self.hookTimeoutSeconds = hookTimeoutSeconds
        self.maxStudyBytes = maxStudyBytes
        self.keepStudies = keepStudies
        self.reconnectBaseSeconds = reconnectBaseSeconds
        self.reconnectMaxSeconds = reconnectMaxSeconds
    }

    public var subscriber: CastSubscriber {
        CastSubscriber(topic: topic, events: Self.events, name: subscriberName, actors: actors, productName: product, productVersion: version)
    }
}
