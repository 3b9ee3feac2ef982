import CastClient
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// 5: binary transfers through the bridge — a Cast app uploads a `dicom-send` batch, the bridge reads it once and
/// announces it to a FHIRcast app, which downloads it from castbridge. Throughput, and the server's peak RSS.
extension Bench {
    func binaryTransfers(binary: String) async throws -> Int {
        let plans: [(files: Int, bytes: Int)] = smoke ? [(2, 1 << 20)] : [(100, 1 << 20), (1, 1 << 30)]
        var failures = 0
        for plan in plans {
            let target = try await makeTarget(binary: binary)
            do {
                failures += try await transfer(target: target, files: plan.files, bytes: plan.bytes)
            } catch {
                await target.stop()
                throw error
            }
            // Stopped before the next plan (and before the benchmark exits): a task started in a defer may never run.
            await target.stop()
        }
        return failures
    }

    private func transfer(target: Target, files: Int, bytes: Int) async throws -> Int {
        let base = target.base
        let urls = URLBox()
        let topic = uniqueTopic("bin")
        let fhir = try await Subscriber.connect(
            kind: .fhircast, base: base, topic: topic, events: "org.castbridge.dicom_send", name: "reader", maxEvents: files, ack: true,
            onFrame: { text in if let url = Self.attachmentURL(in: text) { urls.add(url) } })
        try await Task.sleep(for: .milliseconds(300))
        let measured = await target.rss()
        let baseline = measured ?? 0
        let peak = PeakRSS()
        let sampler = Task {
            while !Task.isCancelled {
                if let r = await target.rss() { peak.observe(r) }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        var uploadSeconds = 0.0
        var downloadSeconds = 0.0
        var downloaded = 0
        var wrong = 0
        for i in 0..<files {
            let t0 = Clock.now()
            try await Self.upload(base: base, topic: topic, index: i, bytes: bytes)
            uploadSeconds += (Clock.now() - t0) / 1e6
            let deadline = ContinuousClock.now + .seconds(120)
            while urls.count <= i, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(2)) }
            guard let url = urls.get(i) else {
                wrong += 1
                continue
            }
            let t1 = Clock.now()
            let got = try await Self.download(url)
            downloadSeconds += (Clock.now() - t1) / 1e6
            downloaded += got
            if got != bytes { wrong += 1 }
        }
        sampler.cancel()
        await fhir.close()
        let mib = Double(files * bytes) / 1048576
        print("")
        print("Binary, \(files) × \(bytes >> 20) MiB, Cast upload → bridge → FHIRcast download:")
        print(String(format: "  upload %.0f MiB/s, download %.0f MiB/s; %d of %d files exact",
            mib / max(uploadSeconds, 1e-9), mib / max(downloadSeconds, 1e-9), files - wrong, files))
        if measured == nil {
            print("  server RSS: not read (a --url target)")
        } else {
            print(String(format: "  server RSS: %.1f MiB before, peak %.1f MiB (+%.1f MiB)",
                Double(baseline) / 1048576, Double(peak.value) / 1048576, Double(max(0, peak.value - baseline)) / 1048576))
        }
        return wrong > 0 ? 1 : 0
    }

    /// The first attachment url of a FHIRcast frame.
    static func attachmentURL(in text: String) -> String? {
        guard let data = text.data(using: .utf8), let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let event = root["event"] as? [String: Any], let context = event["context"] as? [[String: Any]]
        else { return nil }
        for entry in context {
            if let a = entry["attachment"] as? [String: Any], let url = a["url"] as? String { return url }
        }
        return nil
    }

    /// One `dicom-send` batch of one file, streamed 1 MiB at a time (the benchmark never holds the file).
    static func upload(base: String, topic: String, index: Int, bytes: Int) async throws {
        let boundary = "bench-boundary"
        let envelope = #"{"id":"bench-\#(index)-\#(topic)","subscriber.name":"bench-uploader","event":{"hub.topic":"\#(topic)","hub.event":"dicom-send","context":{"files":[{"fileName":"f\#(index).dcm","byteLength":\#(bytes),"mimeType":"application/dicom"}]}}}"#
        let head = ByteBuffer(string: "--\(boundary)\r\nContent-Type: application/dicom+json\r\n\r\n\(envelope)\r\n--\(boundary)\r\nContent-Type: application/dicom\r\n\r\n")
        let tail = ByteBuffer(string: "\r\n--\(boundary)--\r\n")
        var block = ByteBuffer()
        block.writeRepeatingByte(0x5A, count: min(bytes, 1 << 20))
        let length = head.readableBytes + bytes + tail.readableBytes
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream(bufferingPolicy: .bufferingOldest(4))
        let producer = Task {
            continuation.yield(head)
            var left = bytes
            while left > 0 {
                let n = min(left, block.readableBytes)
                let piece = block.getSlice(at: block.readerIndex, length: n)!
                while case .dropped = continuation.yield(piece) { try? await Task.sleep(for: .microseconds(200)) }
                left -= n
            }
            while case .dropped = continuation.yield(tail) { try? await Task.sleep(for: .microseconds(200)) }
            continuation.finish()
        }
        let outcome = await CastHubClient(url: base, auth: .none).publishBatch(
            .stream(stream, length: .known(Int64(length))), contentType: "multipart/related; boundary=\(boundary); type=\"application/dicom\"",
            timeout: .seconds(600))
        producer.cancel()
        guard outcome == .sent else { throw BenchError("upload: \(outcome)") }
    }

    /// Downloads and counts the bytes without keeping them.
    static func download(_ url: String) async throws -> Int {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(600))
        guard response.status == .ok else { throw BenchError("download \(url): \(response.status.code)") }
        var total = 0
        for try await piece in response.body { total += piece.readableBytes }
        return total
    }
}

final class URLBox: Sendable {
    private let urls = Mutex<[String]>([])
    func add(_ url: String) { urls.withLock { $0.append(url) } }
    var count: Int { urls.withLock { $0.count } }
    func get(_ i: Int) -> String? { urls.withLock { i < $0.count ? $0[i] : nil } }
}

final class PeakRSS: Sendable {
    private let peak = Mutex(0)
    func observe(_ v: Int) { peak.withLock { $0 = max($0, v) } }
    var value: Int { peak.withLock { $0 } }
}
