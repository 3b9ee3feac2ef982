import AccessCore
import ServiceSupport
import WebSocketTransport
import FHIRcastCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The FHIRcast HTTP surface: `hub.url` for STU3 and STU2, `hub.url/{topic}`, discovery, and the websocket
/// endpoints. Thin: it parses, asks the hub, and writes the answer.
package struct FHIRcastRoutes: Sendable {
    package let hub: FHIRcastHub
    package let config: FHIRcastServiceConfiguration

    /// Whether a request may do what it asks (subscribe, publish, read a context).
    package let access: any AccessPolicy

    /// Where subscribes and unsubscribes are recorded, with their outcome.
    package let audit: any AuditSink

    package init(
        hub: FHIRcastHub, config: FHIRcastServiceConfiguration, access: any AccessPolicy = OpenAccess(), audit: any AuditSink = NoAudit()
    ) {
        self.hub = hub
        self.config = config
        self.access = access
        self.audit = audit
    }

    /// What the request's token lets it do; a 401 or 403 with the policy's reason when it may not.
    private func authorize(
        _ action: AccessRequest.Action, topic: String, events: [String] = [], _ request: Request
    ) async throws(PlainTextError) -> AccessGrant {
        let asked = AccessRequest(action, side: .fhircast, topic: topic, events: events, authorization: request.headers[.authorization])
        switch await access.decide(asked) {
        case .allow(let grant): return grant
        case .deny(let status, let reason): throw PlainTextError(denied: status, reason)
        }
    }

    package static let webSocketPath = "fhircast/ws"

    package func add(to router: Router<AppRequestContext>) {
        for flavor in Flavor.allCases {
            let base = "fhircast/\(flavor.rawValue)"
            router.get("\(base)/.well-known/fhircast-configuration") { _, _ in
                JSONBody.response(Discovery.configuration(flavor, hub: config.hub))
            }
            router.post(RouterPath(base)) { request, context in
                try await self.postHubURL(request, context: context, flavor: flavor)
            }
            router.post("\(base)/:topic") { request, context in
                let topic = try Self.topicParameter(context)
                let body = try await self.body(request)
                return try await self.publish(request, body: body, flavor: flavor, pathTopic: topic)
            }
            router.get("\(base)/:topic") { request, context in
                let topic = try Self.topicParameter(context)
                _ = try await self.authorize(.readContext, topic: topic, request)
                do throws(HubError) {
                    try await self.hub.requireTopic(topic, status: 404)
                } catch {
                    throw PlainTextError(error)
                }
                return JSONBody.response(await self.hub.currentContext(topic: topic, flavor: flavor))
            }
        }
    }

    // MARK: hub.url

    /// POST hub.url: a form is a subscription request (C9), JSON is an event (C36).
    package func postHubURL(_ request: Request, context: AppRequestContext, flavor: Flavor) async throws -> Response {
        let body = try await self.body(request)
        switch Self.kind(of: request, body: body) {
        case .form:
            return try await subscription(request, body: body, flavor: flavor)
        case .json:
            return try await publish(request, body: body, flavor: flavor, pathTopic: nil)
        case .unsupported(let type):
            throw PlainTextError(
                .unsupportedMediaType,
                "unsupported Content-Type '\(type)': use application/x-www-form-urlencoded to subscribe, application/json to send an event")
        }
    }

    private func subscription(_ request: Request, body: ByteBuffer, flavor: Flavor) async throws -> Response {
        let form: FormFields
        let parsed: SubscriptionRequest
        do {
            form = try FormFields.parse(String(buffer: body))
            parsed = try SubscriptionRequest.parse(form, flavor: flavor)
        } catch {
            throw PlainTextError(error)
        }
        let grant = try await authorize(
            parsed.mode == .subscribe ? .subscribe : .unsubscribe, topic: parsed.topic, events: parsed.events, request)
        if parsed.mode == .subscribe, let callback = parsed.callback,
            case .failure(let refusal) = await hub.callbackPins.client(for: callback)
        {
            throw PlainTextError(.badRequest, refusal.description)
        }
        let sub: Subscription
        func record(_ status: Int, events: [String], reason: String?) {
            audit.record(
                AuditRecord(
                    action: parsed.mode.rawValue, side: .fhircast, status: status, subject: grant.subject, topic: parsed.topic,
                    events: events, reason: reason))
        }
        do {
            switch parsed.mode {
            case .subscribe:
                let allowed = Self.narrowed(parsed, by: grant, defaultLease: config.hub.defaultLeaseSeconds)
                sub = try await hub.subscribe(allowed, flavor: flavor)
            case .unsubscribe: sub = try await hub.unsubscribe(parsed)
            }
        } catch {
            record(error.status, events: parsed.events, reason: error.message)
            throw PlainTextError(error)
        }
        record(202, events: sub.events, reason: nil)
        // 202 with the websocket endpoint (C9, C22); webhook subscriptions have none to report (C3: still JSON).
        let body: JSONValue = sub.isWebSocket ? ["hub.channel.endpoint": .string(endpointURL(sub.id, request: request))] : [:]
        return JSONBody.response(body, status: .accepted)
    }

    /// A FHIRcast app's event (C26), counted as accepted or refused (`castbridge_publishes_total`).
    private func publish(_ request: Request, body: ByteBuffer, flavor: Flavor, pathTopic: String?) async throws -> Response {
        let publishes = config.edge.telemetry.fhircastPublishes
        do {
            let response = try await takeEvent(request, body: body, flavor: flavor, pathTopic: pathTopic)
            publishes.success.add()
            return response
        } catch {
            publishes.failure.add()
            throw error
        }
    }

    private func takeEvent(_ request: Request, body: ByteBuffer, flavor: Flavor, pathTopic: String?) async throws -> Response {
        if case .unsupported(let type) = Self.kind(of: request, body: body), !type.isEmpty {
            throw PlainTextError(.unsupportedMediaType, "unsupported Content-Type '\(type)': events are application/json or application/fhir+json")
        }
        let json: JSONValue
        let notification: EventNotification
        do throws(HubError) {
            json = try JSONBody.decode(body)
            if json["hub.mode"] != nil {
                throw HubError.unsupportedMediaType(
                    "subscription requests must be sent as application/x-www-form-urlencoded, not JSON")
            }
            notification = try NotificationParser.parse(json, pathTopic: pathTopic)
        } catch {
            throw PlainTextError(error)
        }
        _ = try await authorize(.publish, topic: notification.event.topic, events: [notification.event.name], request)
        do throws(HubError) {
            // Not FHIRcast, but OHIF-lineage clients send it: it names the publisher for a bridge SyncError.
            try await hub.publishFromApp(notification, publisher: json["subscriber.name"]?.stringValue)
            return JSONBody.response(["success": true, "id": .string(notification.id)])
        } catch {
            throw PlainTextError(error)
        }
    }

    // MARK: Helpers

    /// A subscription as the token allows it (C7): only the events it may read, and a lease that ends by the time the
    /// token does.
    static func narrowed(
        _ request: SubscriptionRequest, by grant: AccessGrant, defaultLease: Int, now: Date = Date()
    ) -> SubscriptionRequest {
        var request = request
        if let events = grant.events { request.events = events }
        request.owner = grant.subject
        if let expiresAt = grant.expiresAt {
            let left = max(1, Int(expiresAt.timeIntervalSince(now).rounded(.down)))
            request.leaseSeconds = min(request.leaseSeconds ?? defaultLease, left)
        }
        return request
    }

    private func body(_ request: Request) async throws -> ByteBuffer {
        try await Self.collect(request, limit: config.edge.maxBodyBytes)
    }

    /// The request body up to `limit` bytes; beyond it, 413 with the limit named.
    package static func collect(_ request: Request, limit: Int) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw PlainTextError(.contentTooLarge, "request body is larger than the limit of \(limit) bytes")
        }
    }

    package enum BodyKind: Equatable { case form, json, unsupported(String) }

    package static func kind(of request: Request, body: ByteBuffer) -> BodyKind {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        if type.containsBytes("x-www-form-urlencoded") { return .form }
        if type.containsBytes("json") { return .json }
        if type.isEmpty {
            // No Content-Type: decide by the first byte.
            let first = body.readableBytesView.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
            return first == UInt8(ascii: "{") || first == UInt8(ascii: "[") ? .json : .form
        }
        return .unsupported(type)
    }

    package static func topicParameter(_ context: AppRequestContext) throws -> String {
        guard let raw = context.parameters.get("topic") else { throw PlainTextError(.badRequest, "missing topic in the path") }
        return raw.removingPercentEncoding ?? raw
    }

    package func endpointURL(_ id: SubscriptionID, request: Request) -> String {
        AdvertisedURL.webSocket(path: "/\(Self.webSocketPath)/\(id.raw)", request: request, config: config.edge)
    }
}

/// `hub.url/.well-known/fhircast-configuration` (C4, C5).
package enum Discovery {
    package static func configuration(_ flavor: Flavor, hub: HubConfiguration) -> JSONValue {
        let events = hub.events.names.map { JSONValue.string(flavor.wireName($0)) }
        switch flavor {
        case .stu3:
            return [
                "eventsSupported": .array(events),
                "websocketSupport": true,
                "fhircastVersion": "3.0.0",
                "fhirVersion": "R4",
                "getCurrentSupport": true,
                "capabilities": [
                    "supportsGetCurrentContext": true,
                    "supportsNonCurrentContextUpdates": .bool(hub.supportsNonCurrentContextUpdates),
                ],
            ]
        case .stu2:
            return [
                "eventsSupported": .array(events),
                "websocketSupport": true,
                "webhookSupport": true,
                "fhircastVersion": "STU2",
                "getCurrentSupport": true,
            ]
        }
    }
}
