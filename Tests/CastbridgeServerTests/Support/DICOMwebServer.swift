import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A DICOMweb server on loopback serving one study by WADO-RS (`GET /dicom-web/studies/{uid}`), as a PACS does: a
/// `multipart/related; type="application/dicom"` answer with one part per instance. It counts the retrieves.
struct DICOMwebServer: Sendable {
    let service: LoopbackService
    let studyUID: String
    let instances: [[UInt8]]

    var root: String { "http://127.0.0.1:\(service.port)/dicom-web" }

    static func start(studyUID: String, instances: [[UInt8]]) async throws -> DICOMwebServer {
        let logger = Logger(label: "test.dicomweb")
        let counter = Counter()
        let router = Router()
        router.get("/dicom-web/studies/:uid") { request, context -> Response in
            guard context.parameters.get("uid") == studyUID else { return Response(status: .notFound) }
            counter.value.withLock { $0 += 1 }
            let boundary = "dicomweb-test-boundary"
            var body = ByteBuffer()
            for instance in instances {
                body.writeString("--\(boundary)\r\nContent-Type: application/dicom\r\n\r\n")
                body.writeBytes(instance)
                body.writeString("\r\n")
            }
            body.writeString("--\(boundary)--\r\n")
            return Response(
                status: .ok, headers: [.contentType: #"multipart/related; type="application/dicom"; boundary=\#(boundary)"#],
                body: ResponseBody(byteBuffer: body))
        }
        let service = try await LoopbackService.start(logger: logger) { listening in
            Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: listening, logger: logger)
        }
        return DICOMwebServer(service: service, studyUID: studyUID, instances: instances, counter: counter)
    }

    private init(service: LoopbackService, studyUID: String, instances: [[UInt8]], counter: Counter) {
        self.service = service
        self.studyUID = studyUID
        self.instances = instances
        self.counter = counter
    }

    private let counter: Counter
    var retrieveCount: Int { counter.value.withLock { $0 } }

    final class Counter: Sendable {
        let value = Mutex(0)
    }

    func stop() async { await service.stop() }
}
