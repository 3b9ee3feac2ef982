import FHIRcastService
import ServiceSupport
import CastCore
import FHIRcastCore

/// A generation B `cast-get` answer in the collated shape of generation D (responses, expected, missing, timedOut).
package enum CastGetAnswer {
    package static func collated(_ answer: JSONValue, request: CastRequest) -> JSONValue {
        let subscriber = request.targetSubscriber ?? ""
        // castpw44 answers `"response": null` when the target does not exist, is not connected, or did not answer.
        let response: JSONValue? = answer["response"] == .null ? nil : answer["response"]
        let error = response?["error"]?.stringValue
        let answered = response != nil && error == nil
        var responses: [JSONValue] = []
        if answered, let response {
            responses.append([
                "id": response["id"] ?? .null, "subscriber": .string(subscriber), "actor": response["actor"] ?? .null,
                "productName": response["subscriber.product.name"] ?? .null,
                "data": response["event"]?["context"]?["data"] ?? response,
            ])
        }
        let connected = answer["connected"] ?? false
        var body: [String: JSONValue] = [
            "ok": .bool(answered), "id": .string(request.id), "subscriber.name": .string(request.requester),
            "dataType": .string(request.dataType), "topic": request.topic.map(JSONValue.string) ?? .null,
            "targetExists": answer["exists"] ?? false, "targetConnected": connected,
            "expected": connected == true ? [.string(subscriber)] : [],
            "missing": connected == true && !answered ? [.string(subscriber)] : [],
            "timedOut": .bool(error?.lowercased().contains("timeout") ?? false),
            "responses": .array(responses),
        ]
        if let error { body["error"] = .string(error) }
        return .object(body)
    }
}
