import CastClient
import FHIRcastCore
import Foundation
import Logging

/// Publishing that rides out a hub restart: a message the hub certainly did not take (`notSent`) or could not take
/// yet (`busy`) is sent again with backoff, for `patience` seconds; one it refused is not.
struct CastDelivery: Sendable {
    let client: CastHubClient
    let patience: Double
    let logger: Logger

    @discardableResult
    func send(_ what: String, _ attempt: @Sendable () async -> PublishOutcome) async -> PublishOutcome {
        var backoff = Backoff(base: 0.2, max: 5)
        let deadline = ContinuousClock.now + .seconds(patience)
        while true {
            let outcome = await attempt()
            switch outcome {
            case .sent:
                return outcome
            case .failed(let why):
                logger.warning("\(what) was refused: \(why)")
                return outcome
            case .notSent(let why), .busy(let why):
                guard ContinuousClock.now < deadline, !Task.isCancelled else {
                    logger.warning("\(what) could not be sent: \(why)")
                    return outcome
                }
                try? await Task.sleep(for: .seconds(backoff.next(unit: Double.random(in: 0..<1))))
            }
        }
    }
}
