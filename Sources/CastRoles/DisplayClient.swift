import AsyncHTTPClient
import CastClient
import CastRolesCore
import FHIRcastCore
import Foundation
import Logging
import NIOCore
import Synchronization

/// `castbridge display`: an image display client for any viewer (Docs/display.md). It subscribes to one user's
/// topic as actor `ID`; an `imagingstudy-open` fetches the study into the cache and runs the viewer command on it;
/// `imagingstudy-close` runs the close command; `status-request` and `sceneview-request` are answered with what is
/// open and the scene the hook describes. Messages addressed to another role or product are ignored.
public actor DisplayClient {
    public let config: DisplayConfiguration
    private let client: CastHubClient
    private let fetcher: StudyFetcher
    private let logger: Logger
    private var state = DisplayState()
    private var socket: CastHubSocket?
    private var work: AsyncStream<Work>.Continuation?
    private var hookRuns = 0
    static let maxHookRuns = 4

    /// Opens and closes run one at a time, in order; requests are answered meanwhile.
    enum Work: Sendable {
        case open(generation: Int, plan: ImagingStudyOpen, message: CastMessage)
        case close(folder: String?)
    }

    public init(config: DisplayConfiguration, logger: Logger = Logger(label: "castbridge.display")) {
        self.config = config
        self.client = CastHubClient(url: config.hubURL, auth: config.auth)
        self.fetcher = StudyFetcher(client: client, http: .shared, maxBytes: config.maxStudyBytes, timeout: .minutes(30))
        self.logger = logger
    }

    /// What the display has open now.
    public var current: DisplayState { state }

    public func run() async {
        let session = CastHubSession(
            client: client, subscriber: config.subscriber, reconnectBaseSeconds: config.reconnectBaseSeconds,
            reconnectMaxSeconds: config.reconnectMaxSeconds, logger: logger)
        let (items, sink) = AsyncStream<Work>.makeStream()
        work = sink
        logger.info("display \(config.subscriberName) subscribing to \(config.hubURL) on topic \(config.topic)")
        await withDiscardingTaskGroup { group in
            group.addTask {
                await RoleLink.run(session, name: "display \(self.config.subscriberName)", logger: self.logger, bound: { await self.bind($0) }, take: { await self.take($0) })
                sink.finish()
            }
            group.addTask {
                for await item in items { await self.perform(item) }
            }
        }
    }

    // MARK: Events

    private func bind(_ socket: CastHubSocket?) { self.socket = socket }

    private func take(_ message: CastMessage) {
        guard message.isAddressed(toActors: config.actors, product: config.product) else {
            logger.debug("ignored \(message.event) addressed to \(message.targetActor ?? "*")/\(message.targetProduct ?? "*")")
            return
        }
        switch message.event {
        case "imagingstudy-open":
            do {
                let plan = try ImagingStudyOpen.plan(context: message.context, defaultDICOMwebRoot: config.dicomwebRoot)
                let generation = state.opening(studyID: plan.studyID, mode: plan.mode.rawValue)
                logger.info("opening study \(plan.studyID) (\(plan.mode.rawValue))")
                work?.yield(.open(generation: generation, plan: plan, message: message))
            } catch {
                state.refused(error.description)
                logger.error("imagingstudy-open \(message.id) cannot be opened: \(error)")
            }
        case "imagingstudy-close":
            let folder = state.studyDirectory
            state.closed()
            logger.info("closing the study")
            work?.yield(.close(folder: folder))
        case _ where message.isRequest:
            let kind = message.dataType.uppercased()
            guard kind == "STATUS" || kind == "SCENEVIEW", let socket else { return }
            let snapshot = state
            // At most `maxHookRuns` answers run the hook at once; beyond, the empty scene view is sent at once.
            let useHook = hookRuns < Self.maxHookRuns
            if useHook { hookRuns += 1 }
            Task {
                await self.answer(message, kind: kind, state: snapshot, hook: useHook, on: socket)
                if useHook { await self.hookEnded() }
            }
        default:
            return
        }
    }

    // MARK: Opening and closing

    private func perform(_ item: Work) async {
        switch item {
        case .open(let generation, let plan, let message):
            guard generation == state.generation else { return }  // a newer open or a close came first
            let outcome = await open(plan, message: message, generation: generation)
            if state.loaded(generation: generation, directory: outcome.folder, error: outcome.error) {
                if let error = outcome.error { logger.error("study \(plan.studyID): \(error)") } else { logger.info("study \(plan.studyID) is open") }
            }
        case .close(let folder):
            guard let command = config.closeCommand, let program = command.first else { return }
            let result = await ChildProcess.run(
                program, arguments: Array(command.dropFirst()) + (folder.map { [$0] } ?? []), environment: ["CAST_STUDY_DIR": folder ?? "", "CAST_TOPIC": config.topic],
                timeout: .seconds(config.commandTimeoutSeconds), output: .file(config.cacheDirectory + "/viewer.log"))
            if result.ending != .exited(0) { logger.error("the close command: \(result.summary)") }
        }
    }

    /// Fetches the study (or finds it in the cache) and runs the viewer on it.
    private func open(_ plan: ImagingStudyOpen, message: CastMessage, generation: Int) async -> (folder: String?, error: String?) {
        let fm = FileManager.default
        let folder = config.cacheDirectory + "/" + LocalFileName.safe(plan.studyID, fallback: "study")
        do {
            try fm.createDirectory(atPath: config.cacheDirectory, withIntermediateDirectories: true)
            if !fm.fileExists(atPath: folder) {
                let partial = config.cacheDirectory + "/.partial-" + UUID().uuidString.lowercased()
                try fm.createDirectory(atPath: partial, withIntermediateDirectories: true)
                do {
                    let count = try await fetcher.fetch(plan, into: partial)
                    try fm.moveItem(atPath: partial, toPath: folder)
                    logger.info("study \(plan.studyID): \(count) file(s) fetched")
                } catch {
                    try? fm.removeItem(atPath: partial)
                    throw error
                }
                evictOldStudies(keeping: folder)
            }
            try Data(message.json.jsonBytes).write(to: URL(fileURLWithPath: folder + "/.cast-open.json"))
        } catch {
            return (nil, "the study could not be fetched: \(error)")
        }
        // Overtaken while it was fetched: the newer open or the close is what the viewer must show.
        guard generation == state.generation, let program = config.viewerCommand.first else { return (folder, nil) }
        let result = await ChildProcess.run(
            program, arguments: Array(config.viewerCommand.dropFirst()) + [folder],
            environment: [
                "CAST_STUDY_DIR": folder, "CAST_STUDY_ID": plan.studyID, "CAST_STUDY_UID": plan.studyUID ?? "",
                "CAST_SERIES_UID": plan.seriesUID ?? "", "CAST_OPEN_MODE": plan.mode.rawValue, "CAST_TOPIC": config.topic,
                "CAST_EVENT_FILE": folder + "/.cast-open.json",
            ],
            timeout: .seconds(config.commandTimeoutSeconds), output: .file(config.cacheDirectory + "/viewer.log"))
        guard result.ending == .exited(0) else { return (folder, "the viewer command: \(result.summary)") }
        return (folder, nil)
    }

    /// Keeps the newest `keepStudies` studies in the cache, and always `keeping`.
    private func evictOldStudies(keeping: String) {
        let fm = FileManager.default
        let names = (try? fm.contentsOfDirectory(atPath: config.cacheDirectory)) ?? []
        let studies: [(path: String, date: Date)] = names.filter { !$0.hasPrefix(".") }.compactMap { name in
            let path = config.cacheDirectory + "/" + name
            guard let attributes = try? fm.attributesOfItem(atPath: path), attributes[.type] as? FileAttributeType == .typeDirectory else { return nil }
            return (path, attributes[.modificationDate] as? Date ?? .distantPast)
        }
        for old in studies.sorted(by: { $0.date > $1.date }).dropFirst(max(1, config.keepStudies)) where old.path != keeping {
            try? fm.removeItem(atPath: old.path)
        }
    }

    // MARK: STATUS and SCENEVIEW

    private func hookEnded() { hookRuns -= 1 }

    private func answer(_ request: CastMessage, kind: String, state: DisplayState, hook: Bool, on socket: CastHubSocket) async {
        let sceneview = hook ? await self.sceneview(state: state) : StatusReply.emptySceneview(product: config.product)
        let data = kind == "STATUS" ? StatusReply.display(product: config.product, items: state.items, sceneview: sceneview) : sceneview
        let reply = request.response(from: config.subscriberName, actor: config.actors.first, productName: config.product, data: data)
        if !socket.send(String(decoding: reply.json.jsonBytes, as: UTF8.self)) { logger.warning("the \(kind) answer could not be queued on the socket") }
    }

    /// The scene from the hook, with its thumbnails; the reference's empty scene without a hook or when it fails.
    private nonisolated func sceneview(state: DisplayState) async -> JSONValue {
        guard let hook = config.sceneHook, let program = hook.first else { return StatusReply.emptySceneview(product: config.product) }
        let printed = Printed()
        let result = await ChildProcess.run(
            program, arguments: Array(hook.dropFirst()),
            environment: ["CAST_STUDY_DIR": state.studyDirectory ?? "", "CAST_STUDY_ID": state.studyID ?? "", "CAST_TOPIC": config.topic],
            timeout: .seconds(config.hookTimeoutSeconds), output: .lines { printed.append($0) })
        guard result.ending == .exited(0) else {
            logger.warning("the scene hook: \(result.summary)")
            return StatusReply.emptySceneview(product: config.product)
        }
        do {
            let scene = try SceneHookOutput.parse(try JSONValue.parse(Data(printed.text.utf8)))
            var pngs: [Int: (base64: String, width: Int, height: Int)] = [:]
            for (index, path) in scene.thumbnails {
                guard let bytes = FileManager.default.contents(atPath: path), bytes.count <= 2 << 20, let size = PNGHeader.size(bytes) else {
                    logger.warning("the scene hook's thumbnail \(path) is not a readable PNG of at most 2 MiB")
                    continue
                }
                pngs[index] = (bytes.base64EncodedString(), size.width, size.height)
            }
            return StatusReply.sceneview(product: config.product, window: scene.window, display: scene.display, viewports: scene.viewports(with: pngs))
        } catch {
            logger.warning("the scene hook printed something unusable: \(error)")
            return StatusReply.emptySceneview(product: config.product)
        }
    }
}

/// What a hook prints, gathered from its output lines (at most 4 MiB).
private final class Printed: Sendable {
    private let gathered = Mutex<(lines: [String], bytes: Int)>(([], 0))

    func append(_ line: String) {
        gathered.withLock { gathered in
            gathered.bytes += line.utf8.count + 1
            if gathered.bytes <= 4 << 20 { gathered.lines.append(line) }
        }
    }

    var text: String { gathered.withLock { $0.lines.joined(separator: "\n") } }
}
