import CastClient
import BridgeService
import CastbridgeServer
import Testing

@Suite("External hub URLs")
struct RemoteHubURLTests {
    @Test("A topic or payload id is one path segment: no added segments, no dot segments; plain ids unchanged")
    func segments() {
        #expect(RemoteHubURL.segment("3f0c9a1e-77aa-4b7e-9c1d-0123456789ab") == "3f0c9a1e-77aa-4b7e-9c1d-0123456789ab")
        #expect(RemoteHubURL.segment("Topic_1~x") == "Topic_1~x")
        #expect(RemoteHubURL.segment("../admin/reset") == "%2E%2E%2Fadmin%2Freset")
        #expect(RemoteHubURL.segment("..") == "%2E%2E")
        #expect(RemoteHubURL.segment("a b?c#d%") == "a%20b%3Fc%23d%25")
        #expect(RemoteHubURL.segment("é") == "%C3%A9")
        for hostile in ["../../admin/snapshot", "/x", "a/../b", "%2F", "..\\x"] {
            let encoded = RemoteHubURL.segment(hostile)
            #expect(!encoded.contains("/") && !encoded.contains(".") && !encoded.contains("\\"), "\(hostile) → \(encoded)")
        }
    }
}
