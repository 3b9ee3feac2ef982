import AsyncHTTPClient
import CastClient
import CastCore
import CastRolesCore
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import _NIOFileSystem

/// Brings a study named by an `imagingstudy-open` into a folder: WADO-RS from a DICOMweb server (the multipart
/// answer streamed to one file per instance), DICOM files from their URLs, or the files the event carries.
/// Nothing is held whole in memory; more than `maxBytes` in all is refused.
struct StudyFetcher: Sendable {
    let client: CastHubClient
    let http: HTTPClient
    let maxBytes: Int
    let timeout: TimeAmount

    struct Failed: Error, CustomStringConvertible {
        var description: String
    }

    /// Fetches into `folder` (which exists and is empty); returns the number of files written.
    func fetch(_ plan: ImagingStudyOpen, into folder: String) async throws -> Int {
        switch plan.mode {
        case .dicomweb: return try await fetchDICOMweb(plan, into: folder)
        case .dicomURL, .files: return try await fetchFiles(plan.files, into: folder)
        }
    }

    /// `GET {root}/studies/{uid}[/series/{uid}]` with `Accept: multipart/related; type="application/dicom"`.
    private func fetchDICOMweb(_ plan: ImagingStudyOpen, into folder: String) async throws -> Int {
        guard let root = plan.dicomwebRoot, let study = plan.studyUID else { throw Failed(description: "no DICOMweb root or study UID") }
        var url = "\(root)/studies/\(study)"
        if let series = plan.seriesUID { url += "/series/\(series)" }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: #"multipart/related; type="application/dicom"; transfer-syntax=*"#)
        let response = try await http.execute(request, timeout: timeout)
        guard response.status == .ok else { throw Failed(description: "the DICOMweb server answered \(response.status.code) for \(url)") }
        let contentType = response.headers.first(name: "Content-Type") ?? ""
        var writer = PartWriter(folder: folder, maxBytes: maxBytes)
        if contentType.lowercased().hasPrefix("application/dicom") {
            try await writer.begin()
            for try await piece in response.body { try await writer.write(piece) }
            try await writer.end()
            return writer.files
        }
        guard contentType.lowercased().hasPrefix("multipart/related"), let boundary = MultipartReader.boundary(ofContentType: contentType) else {
            throw Failed(description: "the DICOMweb server answered \(contentType.isEmpty ? "without a content type" : contentType), not multipart/related DICOM")
        }
        var reader = try MultipartReader(boundary: boundary)
        for try await piece in response.body {
            let events = try piece.withUnsafeReadableBytes { bytes throws(MultipartError) in try reader.feed(bytes) }
            for event in events {
                switch event {
                case .partBegin: try await writer.begin()
                case .header: continue
                case .body(let range): try await writer.write(piece.getSlice(at: piece.readerIndex + range.lowerBound, length: range.count) ?? ByteBuffer())
                case .heldBody(let bytes): try await writer.write(ByteBuffer(bytes: bytes))
                case .partEnd: try await writer.end()
                }
            }
        }
        try reader.finish()
        guard writer.files > 0 else { throw Failed(description: "the DICOMweb server sent no instances for study \(study)") }
        return writer.files
    }

    /// The event's files, from their url or their inline data, as a Cast manifest's files are fetched.
    private func fetchFiles(_ files: [ImagingStudyOpen.FileRef], into folder: String) async throws -> Int {
        var names: Set<String> = []
        var total = 0
        for (index, file) in files.enumerated() {
            let fromURL = file.url.flatMap { URL(string: $0)?.lastPathComponent }
            let name = LocalFileName.unique(LocalFileName.safe(file.fileName ?? fromURL, fallback: "file-\(index + 1)"), taken: names)
            names.insert(name)
            let entry = CastFileEntry(fileName: name, mimeType: file.mimeType, url: file.url, data: file.data)
            total += try await client.fetch(entry, to: folder + "/" + name, maxBytes: maxBytes - total, http: http)
        }
        return files.count
    }
}

/// Writes parts to numbered files (`instance-0001.dcm`…), counting bytes against a limit.
private struct PartWriter {
    let folder: String
    let maxBytes: Int
    private(set) var files = 0
    private var bytes = 0
    private var handle: WriteFileHandle?
    private var offset: Int64 = 0

    init(folder: String, maxBytes: Int) {
        self.folder = folder
        self.maxBytes = maxBytes
    }

    mutating func begin() async throws {
        try await end()
        files += 1
        let path = folder + "/" + String(format: "instance-%04d.dcm", files)
        handle = try await FileSystem.shared.openFile(forWritingAt: FilePath(path), options: .newFile(replaceExisting: true))
        offset = 0
    }

    mutating func write(_ piece: ByteBuffer) async throws {
        guard let handle else { return }
        bytes += piece.readableBytes
        guard bytes <= maxBytes else {
            try? await handle.close()
            self.handle = nil
            throw StudyFetcher.Failed(description: "the study is over the limit of \(maxBytes) bytes")
        }
        try await handle.write(contentsOf: piece.readableBytesView, toAbsoluteOffset: offset)
        offset += Int64(piece.readableBytes)
    }

    mutating func end() async throws {
        if let handle { try await handle.close() }
        handle = nil
    }
}
