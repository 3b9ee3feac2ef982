import CastCore
import FHIRcastCore
import Testing

/// The Cast hub's request waits and admin snapshot, apart from its actor (issue #20).
@Suite("Cast hub: request waits and admin snapshot")
struct CastHubPartsTests {
    @Test("A waiter is resumed once when its request finishes; a finish before the wait means no wait at all")
    func waits() {
        var w = RequestWaits<String>()
        let waits1 = w.wait("r1", as: "waiter-1", complete: false)
        #expect(waits1)
        #expect(w.waiting == 1)
        let resumed = w.finish("r1")
        #expect(resumed == "waiter-1")
        let resumedAgain = w.finish("r1")
        #expect(resumedAgain == nil)
        // Finished before anyone waits (the answer came first): the waiter does not wait.
        _ = w.finish("r2")
        let waits2 = w.wait("r2", as: "waiter-2", complete: false)
        #expect(!waits2)
        // Complete by the state's own count.
        let waits3 = w.wait("r3", as: "waiter-3", complete: true)
        #expect(!waits3)
        // Forgotten after collation: the same id waits again (a new request reusing it).
        w.forget("r2")
        let waitsAgain = w.wait("r2", as: "waiter-2b", complete: false)
        #expect(waitsAgain)
    }

    @Test("A reset resumes every waiter, and none of their requests waits again")
    func finishAll() {
        var w = RequestWaits<String>()
        _ = w.wait("a", as: "A", complete: false)
        _ = w.wait("b", as: "B", complete: false)
        let resumed = w.finishAll()
        #expect(Set(resumed) == ["A", "B"])
        #expect(w.waiting == 0)
        let waitsAfterReset = w.wait("a", as: "A2", complete: false)
        #expect(!waitsAfterReset)
    }

    @Test("The admin snapshot lists subscriptions with their connection, never a secret, and counts topics")
    func snapshot() throws {
        var state = CastHubState()
        state.add(try CastSubscription.parse(CastFields(["hub.topic": "T", "hub.events": "patient-open", "subscriber.name": "Viewer"]), endpoint: "e1"))
        state.add(
            try CastSubscription.parse(
                CastFields([
                    "hub.topic": "U", "hub.events": "patient-open", "hub.channel.type": "websub", "hub.callback": "http://127.0.0.1:9/cb",
                    "hub.secret": "s3cret",
                ]), endpoint: "e2"))
        let snapshot = state.adminSnapshot(ref: { "ref-" + $0 }, connected: { $0 == "e1" })
        #expect(snapshot["stats"]?["total_subscriptions"] == 2)
        #expect(snapshot["stats"]?["total_topics"] == 2)
        let subs = try #require(snapshot["subscriptions"]?.arrayValue)
        #expect(subs.first { $0["ref"] == "ref-e1" }?["connected"] == true)
        #expect(subs.first { $0["ref"] == "ref-e2" }?["connected"] == false)
        #expect(subs.first { $0["ref"] == "ref-e2" }?["callback_host"] == "127.0.0.1")
        // Neither the secret, nor an endpoint, nor the callback's path.
        for leak in ["s3cret", "\"e1\"", "\"e2\"", "/cb"] { #expect(!String(describing: snapshot).contains(leak), "\(leak)") }
    }
}
