import CastCore
import FHIRcastCore
import Foundation
import Logging
import ServiceSupport
import WebSocketTransport

/// The embedded Cast hub with a store: its records taken back before the first request, and, in a cluster, what it
/// tells the other nodes and what it hears from them (`CastClusterMessage`).
extension CastHub {
    /// Waits until the store's records are back (the first caller reads them). A store that cannot be read gives a
    /// 503, and the next request tries again.
    func ready() async throws(CastError) {
        if restored { return }
        let task = restoring ?? Task { [store] in
            do { return .success(try await store.loadCast()) } catch { return .failure(error) }
        }
        restoring = task
        switch await task.value {
        case .success(let records):
            if !restored {
                state.restore(records)
                restored = true
                if !records.subscriptions.isEmpty || !records.conferences.isEmpty {
                    logger.info(
                        "Cast hub state restored",
                        metadata: ["subscriptions": "\(records.subscriptions.count)", "conferences": "\(records.conferences.count)"])
                }
            }
        case .failure(let error):
            if restoring == task { restoring = nil }
            throw CastError(503, "the Cast hub's stored state could not be read: \(error)")
        }
    }

    /// A change this node made, kept and told before it is answered; a 503 with the store's reason when it cannot be.
    func tell(_ message: CastClusterMessage) async throws(CastError) {
        guard store.keepsCastState, store.spansNodes || message.isKeptOnOneNode else { return }
        do {
            let start = ContinuousClock.now
            try await store.record(message)
            telemetry.castStoreTell.record(since: start)
        } catch {
            logger.warning("the Cast hub's store refused a change", metadata: ["error": "\(error)"])
            throw CastError(503, "the change could not be stored: \(error)")
        }
    }

    /// A message told without waiting (a socket's end, a request's frames), in order, by `passOn`.
    func pass(_ message: CastClusterMessage) {
        guard store.keepsCastState, store.spansNodes || message.isKeptOnOneNode else { return }
        outgoingSink.yield(message)
    }

    /// Tells the messages `pass` queued, one at a time, in order.
    func passOn() async {
        for await message in outgoing {
            do {
                try await store.record(message)
            } catch {
                logger.warning("the Cast hub could not tell the cluster", metadata: ["error": "\(error)"])
            }
        }
    }

    /// A request's frame: to the socket here, or to the node that holds it.
    func sendOrPass(_ frame: CastHubState.RequestFrame) {
        if hasSocket(frame.endpoint) || !store.spansNodes {
            send(JSONBody.encode(frame.frame), to: frame.endpoint)
        } else {
            pass(.frame(endpoint: frame.endpoint, frame: frame.frame))
        }
    }

    /// A socket binding here for a subscription another node took, whose notice has not come yet.
    func adoptIfElsewhere(_ endpoint: String) async {
        guard store.spansNodes, !state.has(endpoint), let sub = await store.castSubscription(endpoint), !state.has(endpoint) else { return }
        state.add(sub)
    }

    /// Follows what the nodes tell, in order, once the records are back.
    func followCluster() async {
        for await note in store.castNotes() {
            while (try? await ready()) == nil {
                do { try await Task.sleep(for: .seconds(1)) } catch { return }
            }
            heard(note)
        }
    }

    func heard(_ note: CastClusterNote) {
        switch note.message {
        case .frame(let endpoint, let frame):
            if !note.fromThisNode { send(JSONBody.encode(frame), to: endpoint) }
        case .response(let endpoint, let frame):
            if !note.fromThisNode { answered(frame, from: endpoint) }
        default:
            let replicated = state.apply(note)
            for endpoint in replicated.removed { closeSocket(endpoint) }
            if replicated.closeAll { closeEverySocket() }
            for delivery in replicated.deliveries { deliver(delivery) }
        }
    }
}
