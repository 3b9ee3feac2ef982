import AccessCore
import CastClient
import BridgeService
import CastService
import FHIRcastService
import ServiceSupport
import BridgeCore
import CastCore
import FHIRcastCore
import Logging
import NIOCore
import StateStores

/// Everything `castbridge serve` can be told. Timers are seconds so that tests can make them short.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests).
    public var port = 8080
    /// Base URL advertised in `hub.channel.endpoint` (http→ws, https→wss). Nil: taken from the request's Host.
    public var publicURL: String?
    public var logLevel: Logger.Level = .info
    /// Where state is kept (Docs/deployment.md). `castbridge serve` defaults to SQLite
    /// (`StoreLocation.defaultSQLitePath`); a configuration made in code keeps nothing unless told.
    public var store: StoreLocation = .memory
    /// Days audit records are kept in the store (besides their log lines); 0 keeps none there.
    public var auditRetentionDays: Double = 90

    // MARK: Operations (Docs/operations.md)

    /// Log lines as text (swift-log's) or one JSON object each.
    public var logFormat: LogFormat = .text
    /// The admin console shows resource ids unmasked (off: the last two characters only).
    public var adminShowsIDs = false
    /// How often the admin console's live view looks for a change.
    public var adminRefreshSeconds: Double = 1

    // MARK: Security (Docs/security.md)

    /// Who may call: `off` (no tokens; loopback only unless `allowAnonymous`), `mock` or `oidc`.
    public var auth: AuthMode = .off
    /// Serve without tokens on an address other machines can reach (warned at every start).
    public var allowAnonymous = false
    /// `--auth oidc`: the provider's issuer URL (discovery at `{issuer}/.well-known/openid-configuration`).
    public var oidcIssuer: String?
    /// `--auth oidc`: where castbridge reads the provider's discovery document when the issuer's own URL does not reach
    /// it from here (a container network); nil: from the issuer.
    public var oidcDiscoveryURL: String?
    /// `--auth oidc`: an audience tokens must name, when set.
    public var oidcAudience: String?
    /// Least time between two fetches of the provider's keys for an unknown key id.
    public var oidcRefetchSeconds: Double = 10
    /// The role (or scope) that allows the administration routes.
    public var adminRole = "castbridge-admin"
    /// The role (or scope) that allows a token without a topic to use any topic, and Cast's `*`.
    public var anyTopicRole = "castbridge-any-topic"
    /// Origins whose pages may call castbridge from a browser (`https://viewer.example`); `*` lets every origin read
    /// without credentials. Empty: no cross-origin access.
    public var corsOrigins: [String] = []
    /// Private or loopback ranges webhook callbacks may reach (link-local and metadata addresses never).
    public var webhookAllow: [CIDR] = []
    /// TLS on castbridge's own port: a PEM certificate chain and its PEM private key (both, or neither).
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?

    public var hub = HubConfiguration()
    /// Take every well-formed FHIRcast event name (C39), not only the catalog and the mapping files' names. Off by
    /// default: discovery's `eventsSupported` then no longer lists everything the hub takes (C5).
    public var acceptAnyEvent = false
    /// How the embedded Cast hub matches event names: `exact` (default) or the reference's `substring`.
    public var castEventMatching: CastEventMatching = .exact
    /// Mock OAuth (`/oauth/authorize`, `/oauth/token`) of the embedded Cast hub; off → 503 `mock_oauth_disabled`.
    public var castMockOAuth = true
    /// Cast binary batches: chunk size of stored payloads, how long they can be downloaded, and the total kept
    /// (over it, batches go out as metadata only), as on the reference (§4.1).
    public var castPayloadChunkBytes = 4 << 20
    public var castPayloadTTLSeconds: Double = 300
    public var castPayloadMaxTotalBytes = 2 << 30
    /// How long `GET /api/hub/cast-get` waits for its `get-response` (generation B: 5 s).
    public var castGetTimeoutSeconds: Double = 5
    /// Demand a valid bearer token on `POST /api/hub` and `POST /api/hub/request` (off, as on the reference).
    public var castRequireAuth = false
    /// Single-user mode: every authorize yields user and topic `SINGLE-USER`.
    public var castSingleUser = false
    /// HS256 secret of the mock tokens (at least 32 bytes, as HMAC-SHA256 wants). The default is a public
    /// development string, like the reference hub's: set your own.
    public var castJWTSecret = "castbridge-dev-secret-change-me-please"
    /// WebSocket ping period; a subscriber that has not answered the previous ping is closed (abnormal close).
    public var pingIntervalSeconds: Double = 30
    /// Messages queued per connection before a slow subscriber is dropped.
    public var sendBufferMessages = 1024
    /// Largest request body and largest inbound WebSocket message.
    public var maxBodyBytes = 1 << 20
    /// How often timers (ACK timeouts, leases) are checked.
    public var tickIntervalSeconds: Double = 0.2

    /// Webhook (STU2): per-request timeout, attempts for 5xx/timeouts, first backoff (doubling).
    public var webhookTimeoutSeconds: Double = 10
    public var webhookAttempts = 4
    public var webhookBackoffSeconds: Double = 1
    /// On shutdown, webhook deliveries still in flight after this long are abandoned; a second later whatever
    /// still holds the shutdown open is cancelled.
    public var shutdownGraceSeconds: Double = 5
    /// A connection that sends nothing for this long after connecting is closed.
    public var firstByteTimeoutSeconds: Double = 30

    // MARK: The bridge (Docs/mappings.md, Docs/architecture.md)

    /// Bridge FHIRcast and Cast at all (off: two hubs side by side, nothing translated).
    public var bridgeEnabled = true
    /// An external Cast hub (`http://host:2018`, `/api/hub` optional). Nil: the embedded hub, in process.
    public var castHubURL: String?
    public var castDialect: CastDialect = .d
    /// How the bridge authenticates to an external Cast hub.
    public var castAuth: CastUpstreamAuth = .none
    /// The translation rules (the mapping files; the built-in default when none are given).
    public var mappings: MappingSet = .builtIn
    /// The bridge's stable Cast identity: `subscriber.name` and `subscriber.product.name` of its publishes.
    public var bridgeName = "castbridge"
    public var bridgeProduct = "castbridge"
    /// Events waiting for the Cast hub: at most this many, each at most this long; beyond either, the
    /// publisher gets a SyncError.
    public var bridgeQueueLimit = 1000
    public var bridgeQueueMaxWaitSeconds: Double = 30
    /// File contents (inline attachments, `Binary` resources) the waiting events may hold together. An event whose
    /// files do not fit is refused with 503 and `Retry-After`, nothing published: the publisher sends it again.
    public var bridgeQueueMaxBytes = 64 << 20
    /// Reconnect backoff towards the Cast hub: first delay and cap (exponential, jittered).
    public var bridgeReconnectBaseSeconds: Double = 0.5
    public var bridgeReconnectMaxSeconds: Double = 30
    /// HTTP timeout of publishes to an external Cast hub.
    public var castPublishTimeoutSeconds: Double = 10

    public init() {}
}
