import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import ServiceSupport
import TestSupport
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// `castbridge-bench`: latency, throughput and memory of a castbridge, every delivery counted once
/// (Docs/performance.md). Build and run in release mode: `swift run -c release castbridge-bench`.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "castbridge-bench",
        abstract: "Measure castbridge: fan-out latency and throughput, the bridge hop, memory per subscriber, CPU per event.")

    @Option(help: "Scenarios to run, comma-separated: floor, fhircast, cast, bridge, binary; and the drills, not by default (Docs/reliability.md): stall (a subscriber that stops reading), burst (--burst-subscribers connect at once and disconnect at once).")
    var scenarios = "floor,fhircast,cast,bridge,binary"
    @Option(help: "Subscribers of the burst scenario, half FHIRcast and half Cast.")
    var burstSubscribers = 10_000
    @Option(help: "Subscriber counts for the fan-out scenarios, comma-separated.")
    var subscribers = "1,100,1000,10000"
    @Option(help: "Events per sequential (latency) run.")
    var events = 200
    @Option(help: "Deliveries aimed at per saturation run (events = this / subscribers).")
    var saturationDeliveries = 200_000
    @Option(help: "Concurrent publishers in saturation runs.")
    var publishers = 8
    @Option(help: "The castbridge executable to start (default: the one next to this executable).")
    var server: String?
    @Option(help: "Measure a castbridge that is already running at this URL (e.g. http://host:8080) instead of starting one, so that its clients can run on another machine. Its memory and CPU are not read; every run uses topics and ids of its own.")
    var url: String?

    @Option(help: "Measure another hub at this URL with the same clients (side by side with castbridge): a Cast hub of generation D (the cast scenario: POST <url>/api/hub, its /bind sockets rebased onto <url>), or a FHIRcast STU3 hub whose hub.url is <url>/fhircast/STU3 (the fhircast scenario). Nothing castbridge-specific is asked of it; its memory and CPU are not read.")
    var peer: String?
    @Option(help: "The store of a castbridge started here: memory, sqlite (a fresh file in a temporary folder for each server) or a postgres:// URL. Not given: no --store is passed (castbridge before issue #19 has none; later ones then use SQLite in the current folder).")
    var store: String?
    @Option(help: "Publish to this castbridge instead (another node of the same cluster): the fan-out scenarios' subscribers stay on the measured one, so every delivery crosses between nodes.")
    var publishTo: String?
    @Option(help: "Instead of the scenarios: a soak of this many minutes (Docs/reliability.md). Events flow at half the saturated rate (or --soak-rate) to FHIRcast and Cast subscribers, through the bridge, while others join and leave; RSS, open descriptors and p99 are reported every minute, and the run fails when any event is lost or duplicated, or RSS or descriptors end more than 5 % above where they were after the warm-up.")
    var soak: Double?
    @Option(help: "Events per second for --soak (default: half the rate measured in a 10 s saturation at the start).")
    var soakRate: Double?
    @Option(help: "Warm-up minutes of --soak, before the baseline is taken.")
    var soakWarmup: Double = 2
    @Option(help: "Subscribers joining --soak per second (the oldest of 20 leaves as each joins); 0: none join or leave.")
    var soakChurn: Double = 2
    @Flag(help: "A tiny run that checks the benchmark works (not a measurement).")
    var smoke = false
    @Flag(help: "FHIRcast fan-out subscribers do not acknowledge (a server started here gets --ack-timeout 3600): the fan-out without the ACKs' cost, to tell the two apart. Not how a FHIRcast subscriber behaves.")
    var noAck = false

    func run() async throws {
        DescriptorLimit.raiseToHard()  // 10,000 subscribers need 10,000 client sockets
        let binary = server ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("castbridge").path
        let counts = smoke ? [1, 10] : subscribers.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let perRun = smoke ? 20 : events
        let wanted = Set(scenarios.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        var failures = 0
        print("castbridge-bench: \(ProcessInfo.processInfo.activeProcessorCount) cores, server \(peer.map { "\($0) (peer)" } ?? url ?? binary)")
        if peer != nil, !wanted.isSubset(of: ["fhircast", "cast"]) {
            throw BenchError("--peer measures the fhircast and cast scenarios only (the bridge and binary scenarios need castbridge)")
        }
        if let soak {
            guard soak > soakWarmup else { throw BenchError("--soak must be longer than --soak-warmup (\(soakWarmup) minutes)") }
            guard soakChurn >= 0, soakChurn <= 1000 else { throw BenchError("--soak-churn is joins per second, 0 to 1000") }
            if try await self.soak(minutes: soak, binary: binary) > 0 { throw ExitCode.failure }
            return
        }
        if wanted.contains("burst"), burstSubscribers < 2 { throw BenchError("--burst-subscribers must be at least 2 (half FHIRcast, half Cast)") }
        if wanted.contains("floor") { failures += try await floor(events: perRun) }
        for kind in [Subscriber.Kind.fhircast, .cast] where wanted.contains(kind == .fhircast ? "fhircast" : "cast") {
            for n in counts {
                failures += try await fanOut(kind: kind, subscribers: n, events: perRun, binary: binary)
            }
        }
        if wanted.contains("bridge") { failures += try await bridgeHop(events: perRun, binary: binary) }
        if wanted.contains("binary") { failures += try await binaryTransfers(binary: binary) }
        if wanted.contains("stall") { failures += try await stall(binary: binary, seconds: smoke ? 2 : 10) }
        if wanted.contains("burst") { failures += try await burst(binary: binary, count: smoke ? 200 : burstSubscribers) }
        if failures > 0 {
            print("FAILED: \(failures) run(s) lost or duplicated deliveries")
            throw ExitCode.failure
        }
    }

    /// The server to measure: started fresh (`--server`, or the one next to this executable), or `--url`.
    func makeTarget(binary: String, extra more: [String] = []) async throws -> Target {
        if let peer {
            return Target(base: peer.hasSuffix("/") ? String(peer.dropLast()) : peer, child: nil)
        }
        if let url {
            let base = url.hasSuffix("/") ? String(url.dropLast()) : url
            guard (try? await HTTP.request(.GET, "\(base)/health"))?.status == 200 else {
                throw BenchError("no castbridge answers at \(base)/health")
            }
            return Target(base: base, child: nil)
        }
        var extra = noAck ? ["--ack-timeout", "3600"] : []
        switch store {
        case nil: break
        case "sqlite"?:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("castbridge-bench-\(UUID().uuidString)")
            extra += ["--store", "sqlite:\(folder.path)/bench.sqlite"]
        case let other?: extra += ["--store", other]
        }
        return try await Target.spawn(binary: binary, port: try await LoopbackPort.free(), extra: extra + more)
    }

    // MARK: Scenarios

    /// 1, 2 and 4: publish → N sockets, sequential then saturated; server memory and CPU.
    func fanOut(kind: Subscriber.Kind, subscribers n: Int, events: Int, binary: String) async throws -> Int {
        let target = try await makeTarget(binary: binary)
        defer { Task { await target.stop() } }  // on errors; a finished run stops it below
        let base = target.base
        let label = kind == .fhircast ? "FHIRcast" : "Cast"
        let saturationEvents = smoke ? 20 : max(20, min(5000, saturationDeliveries / n))
        let total = events + saturationEvents
        // Warm the server up before the baseline.
        let topic = uniqueTopic("bench")
        let warm = try await Subscriber.connect(kind: kind, base: base, topic: uniqueTopic("warm"), events: kind == .fhircast ? "Patient-open" : "patient-open", name: "warm", maxEvents: 1, ack: true)
        await warm.close()
        let rssBefore = await target.rss()
        let subs = try await connectAll(n) { i in
            try await Subscriber.connect(
                kind: kind, base: base, topic: topic, events: kind == .fhircast ? "Patient-open" : "patient-open", name: "sub-\(i)",
                maxEvents: total, ack: !noAck)
        }
        try await Task.sleep(for: .milliseconds(500))
        let rssAfter = await target.rss()
        let client = try PublishClient(base: publishTo.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? base)
        let publish = kind == .fhircast ? Publish.fhircast(client, topic: topic) : Publish.cast(client, topic: topic)
        let cpuBefore = await target.cpuSeconds()
        let ownBefore = ownCPUSeconds()
        let sequential = try await sequentialRun(events: 0..<events, receivers: subs, publish: publish)
        let cpuAfter = await target.cpuSeconds()
        let ownAfter = ownCPUSeconds()
        let saturated = try await saturationRun(events: events..<total, receivers: subs, publishers: publishers, publish: publish)
        // Torn down before the next run starts: 10,000 sockets closing would otherwise be measured with it.
        await closeAll(subs)
        client.close()
        await target.stop()
        print("")
        print("\(label) fan-out, \(n) subscriber(s), \(events) events one at a time:")
        print("  every delivery: \(sequential.all.summary)")
        print("  last delivery:  \(sequential.last.summary)")
        print("  \(sequential.tally)")
        if let b = cpuBefore, let a = cpuAfter {
            print(String(format: "  server CPU: %.1f ms per 1,000 events (the benchmark's own clients: %.1f ms)",
                (a - b) * 1000 / Double(events) * 1000, (ownAfter - ownBefore) * 1000 / Double(events) * 1000))
        }
        print(String(format: "  saturated (%d publishers, %d events): %.0f deliveries/s; %@", publishers, saturationEvents,
            Double(saturated.tally.delivered) / max(saturated.seconds, 1e-9), saturated.tally.description))
        if let b = rssBefore, let a = rssAfter, n >= 100 {
            print(String(format: "  server RSS: %.1f MiB → %.1f MiB, %.1f KiB per idle subscriber", Double(b) / 1048576, Double(a) / 1048576, Double(a - b) / 1024 / Double(n)))
        }
        let bad = sequential.tally.missing + sequential.tally.duplicated + saturated.tally.missing + saturated.tally.duplicated
        return bad > 0 ? 1 : 0
    }

    /// 3: the bridge hop, both ways, against the direct fan-out on the same server.
    func bridgeHop(events: Int, binary: String) async throws -> Int {
        let target = try await makeTarget(binary: binary)
        defer { Task { await target.stop() } }
        let base = target.base
        let topic = uniqueTopic("hop")
        let fhir = try await Subscriber.connect(kind: .fhircast, base: base, topic: topic, events: "Patient-open", name: "fhir", maxEvents: 2 * events, ack: true)
        let cast = try await Subscriber.connect(kind: .cast, base: base, topic: topic, events: "patient-open", name: "cast", maxEvents: 2 * events, ack: false)
        let client = try PublishClient(base: base)
        let fromFHIRcast = try await sequentialRun(events: 0..<events, receivers: [fhir, cast], publish: Publish.fhircast(client, topic: topic))
        let fromCast = try await sequentialRun(events: events..<(2 * events), receivers: [fhir, cast], publish: Publish.cast(client, topic: topic))
        await closeAll([fhir, cast])
        client.close()
        await target.stop()
        // Per event: the bridged copy's arrival minus the direct copy's arrival is the hop.
        func hop(_ range: Range<Int>, bridgedIsCast: Bool) -> (Samples, Tally) {
            var s = Samples()
            let (fc, ft) = fhir.receipts.snapshot()
            let (cc, ct) = cast.receipts.snapshot()
            for i in range where fc[i] > 0 && cc[i] > 0 {
                s.add(bridgedIsCast ? ct[i] - ft[i] : ft[i] - ct[i])
            }
            return (s, Tally([fhir.receipts, cast.receipts], events: range))
        }
        let (toCast, t1) = hop(0..<events, bridgedIsCast: true)
        let (toFHIRcast, t2) = hop(events..<(2 * events), bridgedIsCast: false)
        print("")
        print("Bridge hop, \(events) events each way (bridged copy's arrival minus the direct copy's):")
        print("  FHIRcast publish: direct (FHIRcast) \(fromFHIRcast.all.summary)")
        print("    added for the Cast subscriber: \(toCast.summary); \(t1)")
        print("  Cast publish: \(fromCast.all.summary)")
        print("    added for the FHIRcast subscriber: \(toFHIRcast.summary); \(t2)")
        let bad = t1.missing + t1.duplicated + t2.missing + t2.duplicated
        return bad > 0 ? 1 : 0
    }

    /// 6: the floor — a plain WebSocket echo over loopback, with the same client code.
    func floor(events: Int) async throws -> Int {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("echo") { inbound, outbound, _ in
            try await outbound.write(.text("hello"))
            for try await message in inbound.messages(maxSize: 1 << 20) {
                if case .text(let t) = message { try await outbound.write(.text(t)) }
            }
        }
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "echo")
        logger.logLevel = .critical
        let app = Application(
            router: router, server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { portContinuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let serverTask = Task { try await app.runService() }
        defer { serverTask.cancel() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw BenchError("echo server did not start") }
        let client = try await Subscriber.open("ws://127.0.0.1:\(port)/echo", maxEvents: events, ack: false)
        let result = try await sequentialRun(events: 0..<events, receivers: [client]) { i in client.send(#"{"id":"bench-\#(i)"}"#) }
        await client.close()
        print("")
        print("Floor: WebSocket echo round trip over loopback, \(events) messages: \(result.all.summary); \(result.tally)")
        return result.tally.missing + result.tally.duplicated > 0 ? 1 : 0
    }
}

/// User + system CPU time of this benchmark process (its clients), seconds.
func ownCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// A topic no earlier run used, so that runs against one long-running server (`--url`) cannot see each other's
/// subscribers or events (event ids include the topic).
func uniqueTopic(_ name: String) -> String { "\(name)-\(UInt32.random(in: 0...UInt32.max))" }
