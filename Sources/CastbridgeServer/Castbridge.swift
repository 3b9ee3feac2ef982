import BridgeService
import CastService
import FHIRcastService
import StateStores
import ServiceSupport
import WebSocketTransport
import AsyncHTTPClient
import BridgeCore
import CastCore
import FHIRcastCore
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// The castbridge server: one process, one port.
public struct Castbridge: Sendable {
    public let config: ServerConfiguration
    public let logger: Logger
    /// Whether a request may do what it asks. Nil: the policy of `config.auth` (`Castbridge+Access`); tests set
    /// their own.
    package var access: (any AccessPolicy)?
    /// Where audit records go: their own log lines by default (`castbridge.audit`, at the configured level).
    package var audit: any AuditSink
    /// Where the FHIRcast hub keeps topic contexts and webhook subscriptions: the store `config.store` names; tests
    /// set their own.
    package var store: any HubStore
    /// The other nodes of a cluster: PostgreSQL's, else none.
    package var fanOut: any TopicFanOut
    /// Where the embedded Cast hub keeps its WebSub subscriptions, and meets the other nodes of a cluster.
    package var castStore: any CastHubStore

    public init(config: ServerConfiguration, logger: Logger? = nil) {
        var config = config
        // C5: the hub takes, and discovery lists, the catalog and the events the mapping files declare.
        config.hub.events = EventPolicy(declared: config.mappings.declaredFHIRcastNames, acceptsAnyWellFormedName: config.acceptAnyEvent)
        self.config = config
        var l = logger ?? Logger(label: "castbridge")
        l.logLevel = config.logLevel
        self.logger = l
        var auditLogger = Logger(label: "castbridge.audit")
        auditLogger.logLevel = config.logLevel
        (self.store, self.fanOut, self.castStore) = Self.hubStore(for: config.store, logger: l)
        self.audit = Self.auditSink(store: store, retentionDays: config.auditRetentionDays, lines: LogAuditSink(logger: auditLogger), logger: l)
    }

    /// The services of the process. `onReady` receives the bound port (useful with port 0).
    /// The hubs come after the HTTP server and the bridge last, so that graceful shutdown reaches the bridge first,
    /// then the hubs (sockets closed with 1001), then the HTTP server.
    public func makeServiceGroup(
        handleSignals: Bool = true, onReady: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> ServiceGroup {
        let metrics = MetricsSampler()
        let audit = RecentAudit(keeping: 50, then: self.audit)
        let castHub = CastHub(config: config.castService(metrics.telemetry), logger: logger, store: castStore)
        let outlet: BridgeOutlet? =
            config.bridgeEnabled
            ? BridgeOutlet(
                translator: Translator(
                    mappings: config.mappings, identity: BridgeIdentity(subscriberName: config.bridgeName, productName: config.bridgeProduct),
                    dialect: config.castDialect),
                capacity: config.bridgeQueueLimit, maxBytes: config.bridgeQueueMaxBytes, maxWait: config.bridgeQueueMaxWaitSeconds,
                followsTopics: config.castHubURL != nil && config.castDialect == .b)
            : nil
        // With the bridge on, a topic Cast apps listen on exists for FHIRcast apps too. An external hub's
        // subscriptions cannot be seen from here, so there every topic counts as one Cast apps may listen on.
        var castTopics: (@Sendable (String) async -> Bool)?
        if outlet != nil {
            if config.castHubURL != nil {
                castTopics = { @Sendable _ in true }
            } else {
                castTopics = { @Sendable topic in await castHub.hasListeners(onTopic: topic) }
            }
        }
        let hub = FHIRcastHub(
            config: config.fhircastService(metrics.telemetry), logger: logger, outlet: outlet, castTopics: castTopics, store: store, fanOut: fanOut)
        let bridge = outlet.map { outlet in
            CastBridge(
                outlet: outlet, upstream: makeUpstream(castHub: castHub), fhircast: hub, config: config.bridgeService(metrics.telemetry),
                logger: self.logger,
                leadership: bridgeLeadership, sharedPayloads: castStore.spansNodes ? castStore as? any SharedPayloads : nil)
        }
        let (access, tokens) = self.access.map { ($0, nil) } ?? Self.accessPolicy(for: config, logger: logger, audit: audit)
        logger.info("state store", metadata: ["store": "\(config.store)"])  // the description hides a password
        if config.auth == .off, !ServerConfiguration.isLoopback(config.host) {
            logger.warning(
                "serving without tokens on an address other machines can reach (--allow-anonymous): anyone who reaches \(config.host):\(config.port) can read and change every patient context")
        }
        let router = Router(context: AppRequestContext.self)
        router.add(middleware: RequestLogMiddleware())
        router.add(middleware: AllowedOriginsMiddleware(origins: config.corsOrigins))
        router.add(middleware: NotFoundMiddleware())
        router.add(middleware: ProtocolErrorMiddleware())
        if let tokens { router.add(middleware: AuthenticationMiddleware(tokens: tokens)) }
        let embeddedCast = config.castHubURL == nil ? castHub : nil
        OperationsRoutes(fhircast: hub, cast: embeddedCast, bridge: bridge, store: store, metrics: metrics).add(to: router)
        AdminConsole(
            fhircast: hub, cast: embeddedCast, externalCastHub: config.castHubURL, bridge: bridge, audit: audit, access: access,
            revealsIDs: config.adminShowsIDs, refresh: .milliseconds(Int64(config.adminRefreshSeconds * 1000)), node: nodeSummary
        ).add(to: router)
        FHIRcastRoutes(hub: hub, config: config.fhircastService(metrics.telemetry), access: access, audit: audit).add(to: router)
        if let bridge { BridgeRoutes(bridge: bridge, config: config.bridgeService(metrics.telemetry)).add(to: router) }
        if let external = config.castHubURL {
            // Bridged to an external hub: Cast apps belong there; an embedded hub here would be an island.
            let message = "this castbridge is bridged to the external Cast hub \(external): connect Cast apps to that hub"
            for path in ["api/hub", "api/hub/request", "oauth/authorize", "oauth/token"] {
                router.post(RouterPath(path)) { _, _ -> Response in throw PlainTextError(.notFound, message) }
            }
        } else {
            CastRoutes(hub: castHub, config: config.castService(metrics.telemetry), access: access, audit: audit).add(to: router)
        }

        var sockets: [any WebSocketEndpoint] = [
            FHIRcastSocketEndpoint(hub: hub, config: config.fhircastService(metrics.telemetry), logger: logger)
        ]
        if config.castHubURL == nil {
            sockets.append(CastSocketEndpoint(hub: castHub, config: config.castService(metrics.telemetry), logger: logger))
        }
        let logger = self.logger
        let app = Application(
            router: router,
            server: try Self.serverBuilder(
                sockets: sockets, maxMessageBytes: config.maxBodyBytes, firstByteTimeout: config.firstByteTimeoutSeconds,
                tls: try config.tlsConfiguration()),
            // A backlog of 4,096 pending connections (the kernel caps it at net.core.somaxconn): with Hummingbird's 256,
            // 10,000 subscribers reconnecting at once overflow it and wait for their SYNs to be sent again (the burst
            // drill, Docs/reliability.md).
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "castbridge", backlog: 4096),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("castbridge listening", metadata: ["host": "\(config.host)", "port": "\(port)"])
                await bridge?.serverStarted(port: port)
                await onReady(port)
            },
            logger: logger)
        var groupConfig = ServiceGroupConfiguration(
            services: storeServices + [app, hub, castHub] + (bridge.map { [$0] } ?? []), gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: logger)
        // Past the grace period, whatever still holds the shutdown open is cancelled.
        groupConfig.maximumGracefulShutdownDuration = .seconds(config.shutdownGraceSeconds + 1)
        return ServiceGroup(configuration: groupConfig)
    }

    /// What the admin console says of the node: never the store's URL, which may hold a password.
    var nodeSummary: JSONValue {
        let store: String =
            switch config.store {
            case .memory: "memory"
            case .sqlite: "sqlite"
            case .postgres: "postgres"
            }
        return [
            "version": .string(CastbridgeVersion.current), "store": .string(store), "auth": .string(config.auth.rawValue),
            "bridge": .bool(config.bridgeEnabled),
            "castHub": .string(config.castHubURL == nil ? "embedded" : "external"),
        ]
    }

    /// Who holds the bridge's link: on an external Cast hub, one node of a cluster at a time (each would otherwise
    /// pass every Cast event to FHIRcast once); on the embedded hub every node bridges what its own hub took.
    var bridgeLeadership: any Leadership {
        guard config.castHubURL != nil, let shared = store as? any Leadership else { return SingleNode() }
        return shared
    }

    /// The Cast hub the bridge works through: the external one when configured, else the embedded one in process.
    func makeUpstream(castHub: CastHub) -> any CastUpstream {
        guard let url = config.castHubURL else {
            return EmbeddedCastUpstream(hub: castHub, capacity: max(config.sendBufferMessages, 65_536))
        }
        return RemoteCastUpstream(
            url: url, dialect: config.castDialect, auth: config.castAuth, http: .shared,
            publishTimeout: config.castPublishTimeoutSeconds, maxFrameBytes: max(config.maxBodyBytes, 16 << 20), logger: logger)
    }

    /// HTTP/1.1 with WebSocket upgrade (`UpgradeChannel`), behind the first-byte guard (`FirstByteGuardChannel`), inside
    /// TLS when configured.
    static func serverBuilder(
        sockets: [any WebSocketEndpoint], maxMessageBytes: Int, firstByteTimeout: Double, tls: TLSConfiguration? = nil
    ) throws -> HTTPServerBuilder {
        let plain = HTTPServerBuilder { responder in
            FirstByteGuardChannel(
                inner: UpgradeChannel(responder: responder, endpoints: sockets, maxMessageBytes: maxMessageBytes),
                timeout: TimeAmount(.seconds(firstByteTimeout)))
        }
        guard let tls else { return plain }
        return try .tls(plain, tlsConfiguration: tls)
    }
}
