import CastClient
import CastService
import FHIRcastService
import ServiceSupport
import BridgeCore
import WebSocketTransport
import CastCore
import Crypto
import FHIRcastCore
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// The bridge as a running service: keeps one subscription on the Cast hub (reconnecting with backoff), sends
/// accepted FHIRcast events to it in order, passes Cast events to the FHIRcast hub, and answers Cast requests.
/// The translation is `Translator` (pure); this actor only moves frames.
package actor CastBridge: Service {
    package let outlet: BridgeOutlet
    private let upstream: any CastUpstream
    private let fhircast: FHIRcastHub
    private let config: BridgeServiceConfiguration
    private let logger: Logger
    /// Which node of a cluster holds the link to an external Cast hub (one at a time); on one node, this one.
    private let leadership: any Leadership
    /// In a cluster, where the links to Cast files are kept too, so that any node serves them.
    private let sharedPayloads: (any SharedPayloads)?
    /// Whether this node holds the link, or another node of the cluster does (`standby`).
    private var leading = false
    private var link: CastLink?
    private var backoff: Backoff
    /// Whether a link was ever made: each one after the first is a reconnect.
    private var everConnected = false
    private var stopping = false
    /// Counters, echoes, forwarded requests, served files (pure).
    private var state = BridgeState()
    /// Where castbridge serves those files: `--public-url`, else the bound address (set when the server runs).
    private var payloadBase: String?

    package func serverStarted(port: Int) {
        payloadBase = config.publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "http://\(config.host):\(port)"
    }

    package init(
        outlet: BridgeOutlet, upstream: any CastUpstream, fhircast: FHIRcastHub, config: BridgeServiceConfiguration, logger: Logger,
        leadership: any Leadership = SingleNode(), sharedPayloads: (any SharedPayloads)? = nil
    ) {
        self.leadership = leadership
        self.sharedPayloads = sharedPayloads
        self.outlet = outlet
        self.upstream = upstream
        self.fhircast = fhircast
        self.config = config
        self.logger = logger
        self.backoff = Backoff(base: config.bridgeReconnectBaseSeconds, max: config.bridgeReconnectMaxSeconds)
    }

    private var translator: Translator { outlet.translator }

    // MARK: Service

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.leadLoop() }
            group.addTask { await self.senderLoop() }
            group.addTask { await self.tickLoop() }
            group.addTask { await self.topicLoop() }
            try? await gracefulShutdown()
            await self.stop()
            group.cancelAll()
        }
    }

    private func stop() async {
        stopping = true
        outlet.finish()
        await link?.close()
        link = nil
        let left = outlet.drain()
        if !left.isEmpty {
            logger.warning("shutting down with events not yet sent to the Cast hub", metadata: ["events": "\(left.count)"])
        }
    }

    /// What `/metrics` and `/health/ready` read of the bridge.
    package struct Reading: Sendable {
        package var connected: Bool
        /// Whether this node holds the link (a cluster's leader, or a single node).
        package var leading: Bool
        package var queued: Int
        package var queuedBytes: Int
        package var overflowed: Int
        package var counters: BridgeState.Counters
    }

    package func reading() -> Reading {
        Reading(
            connected: link != nil, leading: !leadership.spansNodes || leading, queued: outlet.count, queuedBytes: outlet.bytes,
            overflowed: outlet.overflowed, counters: state.counters)
    }

    /// For `/health`.
    package func status() -> JSONValue {
        var status = state.status(
            upstream: upstream.label, connected: link != nil, queued: outlet.count, queuedBytes: outlet.bytes, overflowed: outlet.overflowed)
        if leadership.spansNodes, case .object(var fields) = status {
            // A standby node sends its own FHIRcast events to the Cast hub; the leader holds the one subscription.
            fields["role"] = leading ? "leader" : "standby"
            status = .object(fields)
        }
        return status
    }

    /// On a cluster, this node waits its turn to hold the link; the others stand by (and still send their FHIRcast
    /// apps' events to the Cast hub, which needs no link). Leading again whenever the lead is lost.
    private func leadLoop() async {
        while !stopping && !Task.isCancelled {
            await leadership.whileLeading(.bridgeLink) {
                await self.setLeading(true)
                await self.connectionLoop()
            }
            await lostLead()
        }
    }

    private func setLeading(_ value: Bool) {
        leading = value
        if value { outlet.wakeUp() }
    }

    /// The lead is lost (or the bridge stops): the link, if any, is closed, so that the next leader's is the only one.
    private func lostLead() async {
        leading = false
        if let link {
            self.link = nil
            await link.close()
        }
    }

    /// Whether the sender may publish: over this node's link, or, standing by, straight to the Cast hub.
    private var canSend: Bool { link != nil || (leadership.spansNodes && !leading) }

    // MARK: The upstream connection

    private func connectionLoop() async {
        let events = translator.mappings.castSubscriptionEvents
        while !stopping && !Task.isCancelled {
            do {
                let link = try await upstream.connect(events: events, identity: translator.identity)
                if Task.isCancelled {
                    await link.close()
                    return
                }
                if stopping {
                    await link.close()
                    return
                }
                self.link = link
                if everConnected { config.telemetry.bridgeReconnects.add() }
                everConnected = true
                state.connected()
                backoff.reset()
                logger.info("bridge subscribed on the Cast hub", metadata: ["upstream": "\(upstream.label)"])
                outlet.wakeUp()
                outlet.wakeTopics()
                for await command in link.frames {
                    guard case .frame(let buffer) = command else { break }
                    await handle(buffer, link: link)
                }
                self.link = nil
                // The lead was lost: this link ends here, before another node opens its own.
                if Task.isCancelled { await link.close() }
                // Not when castbridge is stopping (a port it could not take stops it before it ever served).
                if !stopping, !Task.isCancelled, !Task.isShuttingDownGracefully {
                    logger.warning("the Cast hub connection ended; reconnecting", metadata: ["upstream": "\(upstream.label)"])
                }
            } catch {
                state.connectFailed("\(error)")
                logger.warning("cannot subscribe on the Cast hub", metadata: ["upstream": "\(upstream.label)", "error": "\(error)"])
            }
            link = nil
            if stopping { return }
            let delay = backoff.next(unit: Double.random(in: 0..<1))
            do { try await Task.sleep(for: .milliseconds(Int64(delay * 1000))) } catch { return }
        }
    }

    /// On a hub that compares topics literally, the bridge holds one subscription per topic that exists for FHIRcast
    /// apps (issue #21, item 5): the hub reports that set through the outlet, and this loop passes it on.
    private func topicLoop() async {
        guard outlet.followsTopics else { return }
        for await _ in outlet.topicWakes where link != nil {
            await upstream.follow(topics: outlet.topics)
        }
    }

    // MARK: FHIRcast → Cast

    private func senderLoop() async {
        for await _ in outlet.wakes {
            // A busy hub keeps the head of the queue; it is tried again shortly, until it fits or expires.
            while await drainOutbox() == .busy {
                do { try await Task.sleep(for: Self.busyRetry) } catch { return }
            }
        }
    }

    package static let busyRetry = Duration.milliseconds(200)

    private enum DrainEnd { case done, busy }

    private func drainOutbox() async -> DrainEnd {
        while !stopping, canSend, let item = outlet.next() {
            // Recorded before sending: the echo could come back before the publish returns.
            state.sending(item.notification.id)
            let topic = item.notification.event.topic
            let outcome: PublishOutcome
            if item.files.contains(where: { $0.byteLength != nil }) {
                let batch = CastBatch.make(envelope: item.envelope, files: item.files)
                outcome = await upstream.publishBatch(batch.body, contentType: batch.contentType, topic: topic)
            } else {
                outcome = await upstream.publish(item.envelope, topic: topic)
            }
            switch outcome {
            case .sent:
                outlet.sent()
                state.sent()
            case .busy(let why):
                outlet.retry()
                if state.busy(why) { logger.notice("the Cast hub cannot take a publish yet; trying again", metadata: ["reason": "\(why)"]) }
                return .busy
            case .notSent(let why):
                // Certainly not received: kept at the head, sent again after reconnecting.
                outlet.retry()
                logger.warning("the Cast hub did not take a publish; reconnecting", metadata: ["reason": "\(why)"])
                if let link { await link.close() } else { return .busy }
                return .done
            case .failed(let why):
                _ = outlet.abandon()
                await reject(item, "castbridge could not pass \(item.notification.event.name) on to the Cast hub: \(why)")
            }
        }
        return .done
    }

    private func reject(_ item: OutboundItem, _ diagnostics: String) async {
        state.refused()
        logger.warning(
            "an event did not reach the Cast hub; its publisher gets a SyncError",
            metadata: ["event": "\(item.notification.event.name)", "id": "\(item.notification.id)", "reason": "\(diagnostics)"])
        await fhircast.rejectFromBridge(item.notification, publisher: item.publisher, diagnostics: diagnostics)
    }

    private func tickLoop() async {
        let period = Duration.milliseconds(Int64(1000 * max(0.05, min(1, config.bridgeQueueMaxWaitSeconds / 4))))
        while !stopping {
            do { try await Task.sleep(for: period) } catch { return }
            let now = Date()
            let waited = Int(config.bridgeQueueMaxWaitSeconds.rounded())
            let why = link == nil ? "the Cast hub (\(upstream.label)) is unreachable" : state.busyReason.map { "the Cast hub cannot take it: \($0)" } ?? "events ahead of it were still being sent"
            for item in outlet.expired(now: now) {
                await reject(item, "castbridge could not pass \(item.notification.event.name) on to the Cast hub within \(waited) s: \(why)")
            }
            state.expire(now: now)
        }
    }

    // MARK: Cast → FHIRcast

    private func handle(_ buffer: ByteBuffer, link: CastLink) async {
        guard let frame = try? JSONBody.decode(buffer) else { return }
        switch translator.inbound(frame, newID: { UUID().uuidString.lowercased() }, now: Timestamp.format(Date())) {
        case .ignored(let why):
            logger.trace("Cast frame not bridged", metadata: ["reason": "\(why)"])
        case .event(var json):
            if let id = json["id"]?.stringValue, state.isEcho(id) { return }
            if let name = frame["event"]?["hub.event"]?.stringValue, CastHubState.isBinaryEvent(name) {
                let files = CastFile.files(in: frame["event"]?["context"])
                if !files.isEmpty { json = Attachments.inserting(await describe(files), into: json) }
            }
            await publishToFHIRcast(json)
        case .request(let request):
            await answer(request, link: link)
        }
    }

    // MARK: Binary content (Cast → FHIRcast)

    /// Attachment entries for the files of a Cast binary event: each stored file is read once, in order, for its
    /// SHA-1 and exact size (and its bytes when it is small enough to travel inline), then served by castbridge.
    private func describe(_ files: [CastFile]) async -> [JSONValue] {
        var urls: [Int: String] = [:]
        var hashes: [Int: String] = [:]
        var inline: [Int: [UInt8]] = [:]
        var described = files
        let inlineMax = translator.mappings.binary.inlineMaxBytes
        for (i, file) in files.enumerated() where !file.payloadIds.isEmpty {
            var hasher = Insecure.SHA1()
            var size = 0
            var bytes: [UInt8]? = inlineMax > 0 && (file.byteLength ?? 0) <= inlineMax ? [] : nil
            do {
                for id in file.payloadIds {
                    try await upstream.readPayload(id) { piece in
                        piece.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                        size += piece.readableBytes
                        if bytes != nil {
                            if size <= inlineMax { bytes?.append(contentsOf: piece.readableBytesView) } else { bytes = nil }
                        }
                    }
                }
            } catch {
                logger.warning("a Cast payload could not be read; the file is described without a link", metadata: ["file": "\(file.fileName)", "error": "\(error)"])
                continue
            }
            if let declared = file.byteLength, declared != size {
                logger.warning("a Cast file's byteLength differs from its stored bytes", metadata: ["file": "\(file.fileName)", "declared": "\(declared)", "stored": "\(size)"])
            }
            described[i].byteLength = size
            hashes[i] = Data(hasher.finalize()).base64EncodedString()
            if let bytes { inline[i] = bytes }
            guard let base = payloadBase else { continue }
            let id = PayloadStore.newID()
            let expires = file.expiresAt.flatMap(Timestamp.parse) ?? Date().addingTimeInterval(config.castPayloadTTLSeconds)
            let entry = PayloadRegistry.File(
                payloadIds: file.payloadIds, size: size, mimeType: file.mimeType ?? "application/octet-stream", fileName: file.fileName,
                expiresAt: expires)
            guard state.payloads.register(entry, id: id) else { continue }
            await share(entry, id: id)
            urls[i] = "\(base)/fhircast/payloads/\(id)"
        }
        return Attachments.entries(for: described, url: { urls[$0] }, sha1: { hashes[$0] }, data: { inline[$0] })
    }

    /// A file for `GET /fhircast/payloads/{id}`, or nil when unknown or expired: this node's link, or in a cluster
    /// another node's.
    package func payloadFile(_ id: String) async -> PayloadRegistry.File? {
        if let file = state.payloads.file(id, now: Date()) { return file }
        guard let sharedPayloads else { return nil }
        do {
            guard let json = try await sharedPayloads.link(id: id) else { return nil }
            let file = try JSONDecoder().decode(PayloadRegistry.File.self, from: Data(json.utf8))
            return file.expiresAt > Date() ? file : nil
        } catch {
            logger.warning("a Cast file link could not be read from the cluster's store", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// A link made here, kept for the other nodes of a cluster (without it, only this node serves the file).
    private func share(_ file: PayloadRegistry.File, id: String) async {
        guard let sharedPayloads else { return }
        do {
            let json = String(decoding: try JSONEncoder().encode(file), as: UTF8.self)
            try await sharedPayloads.putLink(id: id, json: json, expiresAt: file.expiresAt)
        } catch {
            logger.warning("a Cast file link could not be shared with the cluster; only this node serves it", metadata: ["error": "\(error)"])
        }
    }

    /// Streams a file's chunks, in order, from the Cast hub (or the embedded store).
    package nonisolated func stream(_ file: PayloadRegistry.File, into body: (ByteBuffer) async throws -> Void) async throws {
        for id in file.payloadIds { try await upstream.readPayload(id, into: body) }
    }

    private func publishToFHIRcast(_ json: JSONValue) async {
        do throws(HubError) {
            let notification = try NotificationParser.parse(json)
            try await fhircast.publish(notification, fromBridge: true)
            state.passedToFHIRcast()
        } catch {
            logger.warning(
                "a Cast event is not a valid FHIRcast event; not passed on",
                metadata: [
                    "event": "\(json["event"]?["hub.event"]?.stringValue ?? "?")", "topic": "\(json["event"]?["hub.topic"]?.stringValue ?? "?")",
                    "reason": "\(error.message)",
                ])
        }
    }

    // MARK: Requests

    private func answer(_ request: IncomingCastRequest, link: CastLink) async {
        guard let rule = translator.rule(for: request) else { return }
        let now = Timestamp.format(Date())
        switch rule.action {
        case .answerFromContext:
            let data = Translator.contextAnswer(await fhircast.topicContext(request.topic))
            let frame = translator.responseFrame(
                to: request, responseEvent: rule.castResponseEvent, data: data, actor: rule.actor,
                id: UUID().uuidString.lowercased(), timestamp: now)
            if await link.send(frame) { state.answered() }
        case .forward:
            guard let name = rule.fhircast else { return }
            guard state.forwarded.forward(request, rule: rule, now: Date()) else {
                logger.warning("too many Cast requests waiting for FHIRcast replies; not forwarding", metadata: ["type": "\(request.dataType)"])
                return
            }
            await publishToFHIRcast(translator.forwardedEvent(request, as: name, id: UUID().uuidString.lowercased(), timestamp: now))
        case .ignore:
            break
        }
    }

    /// `POST /fhircast/{edition}/{topic}/response`: a FHIRcast subscriber's reply to a forwarded request.
    /// Body: `{"id": <the request's context id>, "data": <anything>, "actor"?: <string>}`.
    package func respond(topic: String, body: JSONValue) async throws(HubError) -> JSONValue {
        guard case .object(let o) = body else { throw .badRequest("the reply must be a JSON object with 'id' and 'data'") }
        guard let id = o["id"]?.stringValue, !id.isEmpty else {
            throw .badRequest("missing 'id': the id in the forwarded request's castbridge extension context")
        }
        guard let data = o["data"] else { throw .badRequest("missing 'data': the answer to send back") }
        if let actor = o["actor"], actor.stringValue == nil { throw .badRequest("'actor' must be a string") }
        let pending = try state.forwarded.awaitingReply(id: id, topic: topic, now: Date())
        guard let link else { throw .unavailable("the Cast hub is not connected; the reply cannot be sent") }
        let frame = translator.responseFrame(
            to: pending.request, responseEvent: pending.rule.castResponseEvent, data: data,
            actor: o["actor"]?.stringValue ?? pending.rule.actor, id: UUID().uuidString.lowercased(), timestamp: Timestamp.format(Date()))
        guard await link.send(frame) else { throw .unavailable("the Cast hub connection closed; the reply was not sent") }
        state.forwarded.answered(id: id)
        state.answered()
        return ["status": "sent", "id": .string(id)]
    }

    /// `POST /fhircast/{edition}/{topic}/request`: a Cast request on the topic; the collated Cast answer.
    package func request(topic: String, body: JSONValue) async throws(HubError) -> JSONValue {
        let request = try translator.castRequest(
            topic: topic, body: body, id: "CASTBRIDGE-" + UUID().uuidString.lowercased(), timestamp: Timestamp.format(Date()))
        return try await upstream.request(request)
    }
}
