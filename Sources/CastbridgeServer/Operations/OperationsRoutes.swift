import BridgeService
import CastService
import FHIRcastCore
import FHIRcastService
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceSupport

/// What an orchestrator and Prometheus read (Docs/operations.md): `/health` (the summary it always was),
/// `/health/live`, `/health/ready` and `/metrics`. None needs a token, and none shows a topic, a patient or a secret.
struct OperationsRoutes: Sendable {
    let fhircast: FHIRcastHub
    let cast: CastHub?
    let bridge: CastBridge?
    let store: any HubStore
    let metrics: MetricsSampler

    func add(to router: Router<AppRequestContext>) {
        router.get("health") { _, _ in
            var health: [String: JSONValue] = [
                "status": "ok", "subscriptions": .int(Int64(await fhircast.subscriptionCount)),
                "verifying": .int(Int64(await fhircast.verifyingCount)),
            ]
            if let bridge { health["bridge"] = await bridge.status() }
            return JSONBody.response(.object(health))
        }
        // Live: the process answers HTTP. Nothing else, so that an orchestrator restarts a node only when it is stuck.
        router.get("health/live") { _, _ in JSONBody.response(["status": "live"]) }
        router.get("health/ready") { _, _ in await self.readiness() }
        router.get("metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            let text = await metrics.scrape(fhircast: fhircast, cast: cast, bridge: bridge)
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
        }
    }

    /// Ready: the store answers, and the bridge, on the node that holds its link, is connected to its Cast hub (a
    /// standby node of a cluster does not need the link). 503 with what is wrong otherwise; a load balancer then sends
    /// the node no traffic, but it is not restarted (`/health/live` stays 200).
    func readiness() async -> Response {
        var checks: [String: JSONValue] = [:]
        var ready = true
        do {
            try await store.ping()
            checks["store"] = ["status": "ok"]
        } catch {
            ready = false
            checks["store"] = ["status": "failing", "error": .string("\(error)")]
        }
        if let bridge {
            let r = await bridge.reading()
            if !r.leading {
                checks["bridge"] = ["status": "standby"]
            } else if r.connected {
                checks["bridge"] = ["status": "ok"]
            } else {
                ready = false
                var failing: [String: JSONValue] = ["status": "failing", "error": "the bridge is not connected to its Cast hub"]
                if case .object(let status) = await bridge.status(), let last = status["lastError"] { failing["lastError"] = last }
                checks["bridge"] = .object(failing)
            }
        }
        return JSONBody.response(
            ["status": ready ? "ready" : "not ready", "checks": .object(checks)], status: ready ? .ok : .serviceUnavailable)
    }
}
