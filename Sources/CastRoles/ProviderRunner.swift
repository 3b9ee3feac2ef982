import CastClient
import CastRolesCore
import FHIRcastCore
import Foundation
import Logging
import NIOCore

/// `castbridge provider`: a Cast service provider (Docs/provider.md). It subscribes to every user's topic for
/// `dicom-send`, `nifti-send` and `status-request`; each batch becomes a job: its files are fetched into the job's
/// `input/`, the `onMessage` program runs on them, and what it leaves in `output/` goes back to the user's topic as
/// a binary batch. The sender hears of each step as a `status-update`. The subscription outlives hub restarts
/// (`CastHubSession`); jobs in progress go on meanwhile and deliver when the hub is back.
public actor ProviderRunner {
    public let config: ProviderConfiguration
    private let client: CastHubClient
    private let delivery: CastDelivery
    private let logger: Logger
    private var queue: JobQueue
    private var waiting: [String: Job] = [:]
    private var socket: CastHubSocket?
    private var starts: AsyncStream<Job>.Continuation?

    /// One batch to work on.
    struct Job: Sendable {
        let id: String
        let message: CastMessage
        /// Who sent the batch: status-updates go to it, and results when `resultsTo` is `sender`.
        var requester: String? { message.subscriberName.flatMap { $0.isEmpty ? nil : $0 } }
    }

    public init(config: ProviderConfiguration, logger: Logger = Logger(label: "castbridge.provider")) {
        self.config = config
        self.client = CastHubClient(url: config.hubURL, auth: config.auth)
        self.delivery = CastDelivery(client: client, patience: config.deliveryPatienceSeconds, logger: logger)
        self.logger = logger
        self.queue = JobQueue(limit: config.concurrency, queueLimit: config.queueLimit)
    }

    /// Runs until the task is cancelled; jobs in progress are stopped then, and their folders removed.
    public func run() async {
        let session = CastHubSession(
            client: client, subscriber: config.subscriber, reconnectBaseSeconds: config.reconnectBaseSeconds,
            reconnectMaxSeconds: config.reconnectMaxSeconds, logger: logger)
        let (jobs, sink) = AsyncStream<Job>.makeStream()
        starts = sink
        logger.info("provider \(config.product) subscribing to \(config.hubURL) for \(ProviderConfiguration.events.joined(separator: ", ")) on topic \(config.topic)")
        await withDiscardingTaskGroup { group in
            group.addTask {
                await RoleLink.run(session, name: "provider \(self.config.product)", logger: self.logger, bound: { await self.bind($0) }, take: { await self.take($0) })
                sink.finish()
            }
            for await job in jobs {
                group.addTask { await self.execute(job) }
            }
        }
    }

    // MARK: Events

    private func bind(_ socket: CastHubSocket?) { self.socket = socket }

    private func take(_ message: CastMessage) async {
        guard message.subscriberName?.lowercased() != config.subscriberName.lowercased() else { return }
        guard message.isAddressed(toActors: config.actors, product: config.product) else { return }
        switch message.event {
        case "dicom-send", "nifti-send":
            guard !message.topic.isEmpty else {
                logger.warning("a \(message.event) without hub.topic was ignored")
                return
            }
            admit(Job(id: UUID().uuidString.lowercased(), message: message))
        case _ where message.isRequest:
            guard message.dataType.uppercased() == "STATUS", let socket else { return }
            let data = StatusReply.provider(product: config.product, running: queue.running.count, queued: queue.waiting.count, limit: queue.limit)
            let reply = message.response(from: config.subscriberName, actor: config.actors.first, productName: config.product, data: data)
            if !socket.send(String(decoding: reply.json.jsonBytes, as: UTF8.self)) { logger.warning("the STATUS answer could not be queued on the socket") }
        default:
            return
        }
    }

    private func admit(_ job: Job) {
        let files = job.message.files.count
        logger.info("job \(job.id): \(job.message.event) with \(files) file(s) from \(job.requester ?? "an unnamed app") on topic \(job.message.topic)")
        switch queue.admit(job.id) {
        case .start:
            starts?.yield(job)
        case .queued(let ahead):
            waiting[job.id] = job
            update(job, .info, "\(config.product): queued, \(ahead) job(s) ahead")
        case .refused:
            update(job, .error, "\(config.product) is busy (\(queue.running.count) jobs running, \(queue.waiting.count) waiting); send it again later")
        }
    }

    private func finished(_ job: Job) {
        if let next = queue.finish(job.id), let job = waiting.removeValue(forKey: next) { starts?.yield(job) }
    }

    // MARK: Status updates

    /// Publishes a status-update to the job's sender at once, outside the job's own ordered updates: for a job that
    /// is queued or refused, before it runs.
    private nonisolated func update(_ job: Job, _ level: JobOutputLine.Level, _ text: String) {
        Task { await self.send(update: job, level, text) }
    }

    private func send(update job: Job, _ level: JobOutputLine.Level, _ text: String) async {
        guard let requester = job.requester else { return }
        let message = CastMessage(
            topic: job.message.topic, event: "status-update", context: ["message": .string(text), "level": .string(level.rawValue)],
            subscriberName: config.subscriberName, productName: config.product, targetSubscriber: requester)
        let client = self.client
        await delivery.send("a status-update for job \(job.id)") { await client.publish(message) }
    }

    // MARK: Jobs

    private nonisolated func execute(_ job: Job) async {
        let config = self.config
        let folder = URL(fileURLWithPath: config.workDirectory).appendingPathComponent(job.id)
        let input = folder.appendingPathComponent("input")
        let output = folder.appendingPathComponent("output")
        // Updates of one job go out one after another, in order.
        let (updates, updateSink) = AsyncStream<(JobOutputLine.Level, String)>.makeStream(bufferingPolicy: .bufferingNewest(1000))
        async let updating: Void = {
            for await (level, text) in updates { await self.send(update: job, level, text) }
        }()
        func say(_ level: JobOutputLine.Level, _ text: String) { updateSink.yield((level, text)) }

        do {
            try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            try Data(job.message.json.jsonBytes).write(to: folder.appendingPathComponent("message.json"))
            let files = job.message.files
            say(.info, "\(config.product): received \(files.count) file(s), fetching")
            let fetched = try await fetch(files, of: job, into: input)
            say(.info, "\(config.product): running on \(fetched.count) file(s)")
            let result = await ChildProcess.run(
                config.onMessage, arguments: config.onMessageArguments + [folder.path],
                environment: [
                    "CAST_JOB_DIR": folder.path, "CAST_INPUT_DIR": input.path, "CAST_OUTPUT_DIR": output.path,
                    "CAST_MESSAGE": folder.appendingPathComponent("message.json").path, "CAST_TOPIC": job.message.topic,
                    "CAST_EVENT": job.message.event, "CAST_SENDER": job.requester ?? "", "CAST_PRODUCT": config.product,
                    "CAST_JOB_ID": job.id,
                ],
                directory: folder.path, timeout: .seconds(config.jobTimeoutSeconds),
                output: .lines { line in
                    if let parsed = JobOutputLine.parse(line) { updateSink.yield((parsed.level, parsed.message)) }
                })
            switch result.ending {
            case .exited(0):
                let sent = await sendResults(of: job, from: output, say: say)
                say(.info, "\(config.product): done, \(sent == 0 ? "no result files" : "\(sent) result file(s) sent")")
                logger.info("job \(job.id): done, \(sent) result file(s)")
            case .timedOut:
                say(.error, "\(config.product): the job timed out after \(Int(config.jobTimeoutSeconds)) s and was stopped")
                logger.warning("job \(job.id): timed out")
            default:
                say(.error, "\(config.product): the job failed (\(result.summary))")
                logger.warning("job \(job.id): onMessage \(result.summary)")
            }
        } catch {
            say(.error, "\(config.product): the job failed: \(error)")
            logger.warning("job \(job.id): \(error)")
        }
        updateSink.finish()
        await updating
        if !config.keepJobs { try? FileManager.default.removeItem(at: folder) }
        await finished(job)
    }

    /// Fetches the batch's files into `input`, under safe and distinct names; returns their names.
    private nonisolated func fetch(_ files: [CastFileEntry], of job: Job, into input: URL) async throws -> [String] {
        var names: Set<String> = []
        var total = 0
        for (index, entry) in files.enumerated() {
            let fallback = job.message.event == "nifti-send" ? "file-\(index + 1).nii.gz" : "file-\(index + 1).dcm"
            let name = LocalFileName.unique(LocalFileName.safe(entry.fileName, fallback: fallback), taken: names)
            names.insert(name)
            let budget = config.maxInputBytes - total
            total += try await client.fetch(entry, to: input.appendingPathComponent(name).path, maxBytes: budget)
        }
        return names.sorted()
    }

    /// Publishes what the program left in `output`, one batch per kind; returns how many files went out.
    private nonisolated func sendResults(of job: Job, from output: URL, say: (JobOutputLine.Level, String) -> Void) async -> Int {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: output.path)) ?? []).sorted()
        var batches: [String: [CastOutgoingFile]] = [:]
        var order: [String] = []
        var skipped: [String] = []
        for name in names {
            let path = output.appendingPathComponent(name).path
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), attributes[.type] as? FileAttributeType == .typeRegular,
                let size = attributes[.size] as? Int
            else { continue }
            guard let kind = ResultKind.of(fileName: name) else {
                skipped.append(name)
                continue
            }
            if batches[kind.event] == nil { order.append(kind.event) }
            batches[kind.event, default: []].append(CastOutgoingFile(path: path, fileName: ResultKind.sendName(name), mimeType: kind.mimeType, byteLength: size))
        }
        if !skipped.isEmpty { say(.info, "\(config.product): not sent (not DICOM, NIfTI, NRRD, PNG or JPEG): \(skipped.joined(separator: ", "))") }
        var sent = 0
        for event in order {
            let files = batches[event] ?? []
            let target = config.resultsTo == .sender ? job.requester : nil
            let message = CastMessage(
                topic: job.message.topic, event: event, context: ["files": [], "inResponseTo": .string(job.message.id)],
                subscriberName: config.subscriberName, productName: config.product, targetSubscriber: target)
            let client = self.client
            let outcome = await delivery.send("the \(event) results of job \(job.id)") { await client.publish(message, files: files) }
            if outcome == .sent {
                sent += files.count
            } else {
                say(.error, "\(config.product): the results could not be sent (\(outcome))")
            }
        }
        return sent
    }
}
