import Synchronization
import CastbridgeServer
import FHIRcastCore
import Foundation
import Testing

/// The STU2 webhook channel against a real callback server on loopback (checklist §1.10).
@Suite("STU2 webhooks (live)")
struct WebhookTests {
    static func subscribeWebhook(_ server: TestServer, callback: String, topic: String, events: String = "patient-open", secret: String = "s3cret", lease: Int? = nil) async throws -> TestServer.HTTPResult {
        var form = [("hub.mode", "subscribe"), ("hub.channel.type", "webhook"), ("hub.callback", callback), ("hub.topic", topic), ("hub.events", events), ("hub.secret", secret)]
        if let lease { form.append(("hub.lease_seconds", String(lease))) }
        return try await server.post("", form: form, flavor: .stu2)
    }

    @Test("STU2: intent verification keeps the callback's query; deliveries are HMAC-SHA256 signed")
    func verifyAndDeliver() async throws {
        try await CallbackServer.with { cb in
            try await TestServer.with { server in
                let result = try await Self.subscribeWebhook(server, callback: cb.url, topic: "wh", lease: 120)
                #expect(result.status == 202)
                #expect(await cb.wait { !$0.verifications.isEmpty })
                let q = try #require(cb.snapshot().verifications.first)
                #expect(q["existing"] == "1")
                #expect(q["hub.mode"] == "subscribe")
                #expect(q["hub.topic"] == "wh")
                #expect(q["hub.events"] == "patient-open")
                #expect(q["hub.lease_seconds"] == "120")
                #expect((q["hub.challenge"] ?? "").count >= 16)
                try await server.untilVerified()
                _ = try await server.publish(Events.patientOpen(topic: "wh", id: "w1"), flavor: .stu2)
                #expect(await cb.wait { !$0.deliveries.isEmpty })
                let d = try #require(cb.snapshot().deliveries.first)
                #expect(d.signature == "sha256=" + CallbackServer.hmac(d.body, secret: "s3cret"))
                #expect(d.json?["id"] == "w1")
                #expect(d.json?["event"]?["hub.event"] == "patient-open")
            }
        }
    }

    @Test("STU2: a 404 or a wrong challenge answer means no subscription and no deliveries")
    func verificationRefused() async throws {
        for mode in [CallbackServer.VerifyMode.refuse404, .wrongBody] {
            try await CallbackServer.with { cb in
                cb.state.withLock { $0.verifyMode = mode }
                try await TestServer.with { server in
                    _ = try await Self.subscribeWebhook(server, callback: cb.url, topic: "no")
                    #expect(await cb.wait { !$0.verifications.isEmpty })
                    try await server.untilVerified()
                    _ = try await server.publish(Events.patientOpen(topic: "no"))
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(cb.snapshot().deliveries.isEmpty)
                }
            }
        }
    }

    @Test("STU2: 5xx is retried with backoff; when retries run out the subscriber is denied by GET and a SyncError goes out")
    func retriesThenDenial() async throws {
        try await CallbackServer.with { cb in
            try await TestServer.with({ $0.webhookAttempts = 3 }) { server in
                let (watcher, _, _) = try await server.subscriber(topic: "rt", events: "syncerror", name: "Watcher")
                cb.state.withLock { $0.script = [500, 503] }
                _ = try await Self.subscribeWebhook(server, callback: cb.url, topic: "rt")
                #expect(await cb.wait { !$0.verifications.isEmpty })
                try await server.untilVerified()
                _ = try await server.publish(Events.patientOpen(topic: "rt", id: "r1"))
                #expect(await cb.wait { $0.deliveries.count == 3 })  // two failures, then success
                #expect(cb.snapshot().denials.isEmpty)
                cb.state.withLock { $0.script = [500, 500, 500] }
                _ = try await server.publish(Events.patientOpen(topic: "rt", id: "r2"))
                #expect(await cb.wait { !$0.denials.isEmpty })
                let denial = try #require(cb.snapshot().denials.first)
                #expect(denial["hub.mode"] == "denied")
                #expect(denial["hub.topic"] == "rt")
                #expect(denial["existing"] == "1")
                let syncError = try #require(try await watcher.nextJSON())
                #expect(syncError["event"]?["hub.event"] == "SyncError")
                #expect(cb.snapshot().deliveries.count == 6)
            }
        }
    }

    @Test("STU2: a 4xx delivery answer is a refusal: SyncError, no retry")
    func refusal() async throws {
        try await CallbackServer.with { cb in
            try await TestServer.with { server in
                let (watcher, _, _) = try await server.subscriber(topic: "rf", events: "SyncError", name: "Watcher")
                cb.state.withLock { $0.script = [409] }
                _ = try await Self.subscribeWebhook(server, callback: cb.url, topic: "rf")
                #expect(await cb.wait { !$0.verifications.isEmpty })
                try await server.untilVerified()
                _ = try await server.publish(Events.patientOpen(topic: "rf", id: "x1"))
                let syncError = try #require(try await watcher.nextJSON())
                #expect(SyncErrorTests.codings(syncError)["eventid"] == "x1")
                try await Task.sleep(for: .milliseconds(200))
                #expect(cb.snapshot().deliveries.count == 1)
            }
        }
    }

    @Test("STU2: a slow callback does not delay websocket subscribers")
    func slowCallbackIsolated() async throws {
        try await CallbackServer.with { cb in
            cb.state.withLock { $0.delaySeconds = 2 }
            try await TestServer.with { server in
                _ = try await Self.subscribeWebhook(server, callback: cb.url, topic: "iso")
                #expect(await cb.wait { !$0.verifications.isEmpty })
                let (fast, _, _) = try await server.subscriber(topic: "iso", events: "Patient-open")
                // i0 reaching the callback proves the webhook is active, and its worker is now held for 2 s.
                // (Waiting for it, rather than for a fixed time, keeps the test from passing without a slow webhook.)
                var i0 = 0
                while cb.snapshot().deliveries.isEmpty, i0 < 50 {
                    _ = try await server.publish(Events.patientOpen(topic: "iso", id: "i0-\(i0)"))
                    #expect(try await fast.nextJSON()?["id"] == .string("i0-\(i0)"))
                    i0 += 1
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(await cb.wait { !$0.deliveries.isEmpty })
                let start = ContinuousClock.now
                _ = try await server.publish(Events.patientOpen(topic: "iso", id: "i1"))
                _ = try await server.publish(Events.patientOpen(topic: "iso", id: "i2"))
                #expect(try await fast.nextJSON()?["id"] == "i1")
                #expect(try await fast.nextJSON()?["id"] == "i2")
                // Under the webhook's 2 s, with room for a loaded machine.
                #expect(ContinuousClock.now - start < .seconds(1.5))
                // The webhook was still busy with its first event meanwhile.
                #expect(cb.snapshot().deliveries.count == 1)
            }
        }
    }

    @Test("STU2: lease expiry denies a webhook subscriber by GET")
    func webhookLeaseExpiry() async throws {
        try await CallbackServer.with { cb in
            // 2 s: long enough for the verification to finish on a loaded machine before the lease ends.
            try await TestServer.with({ $0.hub.maxLeaseSeconds = 2 }) { server in
                _ = try await Self.subscribeWebhook(server, callback: cb.url, topic: "le")
                #expect(await cb.wait { !$0.verifications.isEmpty })
                try await server.untilVerified()
                #expect(await cb.wait(timeout: .seconds(6)) { !$0.denials.isEmpty })
                #expect(cb.snapshot().denials.first?["hub.reason"] == "lease expired")
            }
        }
    }

    @Test("STU2: unsubscribe by callback and topic stops deliveries; webhook requests are validated")
    func unsubscribeAndValidation() async throws {
        try await CallbackServer.with { cb in
            try await TestServer.with { server in
                _ = try await Self.subscribeWebhook(server, callback: cb.url, topic: "us")
                #expect(await cb.wait { !$0.verifications.isEmpty })
                try await server.untilVerified()
                let un = try await server.post(
                    "", form: [("hub.mode", "unsubscribe"), ("hub.channel.type", "webhook"), ("hub.callback", cb.url), ("hub.topic", "us")], flavor: .stu2)
                #expect(un.status == 202)
                _ = try await server.publish(Events.patientOpen(topic: "us"))
                try await Task.sleep(for: .milliseconds(300))
                #expect(cb.snapshot().deliveries.isEmpty)

                let noSecret = try await server.post(
                    "", form: [("hub.mode", "subscribe"), ("hub.channel.type", "webhook"), ("hub.callback", cb.url), ("hub.topic", "v"), ("hub.events", "patient-open")], flavor: .stu2)
                #expect(noSecret.status == 400)
                #expect(noSecret.body.contains("hub.secret"))
                let badURL = try await Self.subscribeWebhook(server, callback: "not a url", topic: "v")
                #expect(badURL.status == 400)
                let longSecret = try await Self.subscribeWebhook(server, callback: cb.url, topic: "v", secret: String(repeating: "k", count: 200))
                #expect(longSecret.status == 400)
                // STU3 has no webhooks.
                let stu3 = try await server.post(
                    "", form: [("hub.mode", "subscribe"), ("hub.channel.type", "webhook"), ("hub.callback", cb.url), ("hub.topic", "v"), ("hub.events", "Patient-open"), ("hub.secret", "x")])
                #expect(stu3.status == 400)
                #expect(stu3.body.contains("STU3"))
            }
        }
    }

    @Test("Shutdown: a webhook delivery still in flight is abandoned within the grace period", .timeLimit(.minutes(1)))
    func shutdownAbandonsSlowDelivery() async throws {
        try await CallbackServer.with { cb in
            var shutdownStarted = ContinuousClock.now
            try await TestServer.with({ $0.shutdownGraceSeconds = 0.5 }) { server in
                _ = try await Self.subscribeWebhook(server, callback: cb.url, topic: "bye")
                #expect(await cb.wait { !$0.verifications.isEmpty })
                try await server.untilVerified()
                // Far longer than grace + 1 s, so that waiting for it and abandoning it cannot be confused under load.
                cb.state.withLock { $0.delaySeconds = 8 }
                _ = try await server.publish(Events.patientOpen(topic: "bye"))
                #expect(await cb.wait { !$0.deliveries.isEmpty })  // the POST is now in flight
                shutdownStarted = .now
            }
            #expect(ContinuousClock.now - shutdownStarted < .seconds(5))
        }
    }
}
