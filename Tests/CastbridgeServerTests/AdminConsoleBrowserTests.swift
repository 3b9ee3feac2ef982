import CastbridgeServer
import FHIRcastCore
import Foundation
import TestSupport
import Testing

/// Issue #14: the admin console in a real headless Chromium, against a real castbridge.
@Suite("Admin console in a browser (live)", .serialized)
struct AdminConsoleBrowserTests {
    /// Where the docs' screenshot is written when this is set (`CASTBRIDGE_SCREENSHOT=Docs/images/admin-console.png`).
    static var screenshotPath: String? { ProcessInfo.processInfo.environment["CASTBRIDGE_SCREENSHOT"] }

    static func rows(topic: String) -> String {
        "[...document.querySelectorAll('#fhircast [data-topic=\"\(topic)\"] tr[data-ref]')]"
    }

    @Test("The page loads, shows a subscriber a test creates, updates live when an event is published, and ends a subscription only once confirmed")
    func console() async throws {
        guard let chromium = try await Chromium.launch() else { return }
        defer { chromium.close() }
        try await TestServer.with({
            $0.bridgeEnabled = true
            $0.adminRefreshSeconds = 0.1
        }) { server in
            let topic = "ROOM-7"
            let (reporting, _, _) = try await server.subscriber(topic: topic, events: "Patient-open,Patient-close", name: "reporting-app")
            let (viewer, _) = try await server.castSubscriber(topic: topic, events: "patient-open", name: "slicer", product: "3D Slicer")
            try await chromium.navigate("\(server.base)/admin")
            try await chromium.until("document.querySelector('#connection').textContent === 'live'")
            try await chromium.until("\(Self.rows(topic: topic)).some(r => r.textContent.includes('reporting-app'))")
            try await chromium.until("document.querySelector('#cast').textContent.includes('3D Slicer')")

            // Live: an event changes the view without a reload.
            #expect(try await server.publish(Events.patientOpen(topic: topic, patient: "MRN-551234")).status == 200)
            _ = try await reporting.nextJSON()
            try await chromium.until("document.querySelector('#fhircast [data-topic=\"\(topic)\"] .context').textContent.includes('Patient/••••34')")
            #expect(try await chromium.evaluate("document.body.innerText.includes('MRN-551234')") == false)
            if let path = Self.screenshotPath { try await chromium.screenshot().write(to: URL(fileURLWithPath: path)) }

            // End: nothing happens until the confirmation.
            try await chromium.evaluate("\(Self.rows(topic: topic)).find(r => r.textContent.includes('reporting-app')).querySelector('button.end').click()")
            try await chromium.until("!document.querySelector('#confirm').hidden")
            #expect(try await chromium.evaluate("document.querySelector('#confirm-text').textContent").stringValue?.contains("reporting-app") == true)
            #expect(await reporting.expectSilence(.milliseconds(300)) == nil)
            try await chromium.evaluate("document.querySelector('#confirm-yes').click()")
            let closed = await reporting.waitForClose()
            #expect(closed.frames.contains { $0["hub.mode"] == "denied" })
            try await chromium.until("document.querySelector('#message').textContent === 'subscription ended'")
            try await chromium.until("!\(Self.rows(topic: topic)).some(r => r.textContent.includes('reporting-app'))")
            viewer.close()
        }
    }

    @Test("With tokens on, the page asks for an admin token, and with one it goes live")
    func needsAToken() async throws {
        guard let chromium = try await Chromium.launch() else { return }
        defer { chromium.close() }
        let issuer = try await TestIssuer.start()
        let admin = try await issuer.token(roles: ["castbridge-admin"])
        try await TestServer.with(SecurityTests.oidc(issuer)) { server in
            try await chromium.navigate("\(server.base)/admin")
            try await chromium.until("document.querySelector('#connection').textContent === 'needs an admin token'")
            try await chromium.evaluate(
                "document.querySelector('#token').value = '\(admin)'; document.querySelector('#token-form').requestSubmit()")
            try await chromium.until("document.querySelector('#connection').textContent === 'live'")
            // The token is not left in the page.
            #expect(try await chromium.evaluate("document.querySelector('#token').value") == "")
        }
    }
}
