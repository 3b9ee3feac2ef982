import FHIRcastCore

/// The answers to `status-request` and `sceneview-request` in the reference's shapes
/// (`docs/module/status-readme.md`, `sceneview-readme.md`).
public enum StatusReply {
    /// A service provider: `{source: status, product, items: [{key: availability, value: online}, …]}`.
    public static func provider(product: String, running: Int, queued: Int, limit: Int) -> JSONValue {
        [
            "source": "status", "product": .string(product),
            "items": [
                ["key": "availability", "value": "online"],
                ["key": "jobs", "value": .string("\(running) running, \(queued) queued, at most \(limit) at once")],
            ],
        ]
    }

    /// An image display: the provider shape with what is open and the scene view.
    public static func display(product: String, items: [(String, String)], sceneview: JSONValue) -> JSONValue {
        var list: [JSONValue] = [["key": "availability", "value": "online"]]
        list += items.map { ["key": .string($0.0), "value": .string($0.1)] }
        return ["source": "status", "product": .string(product), "items": .array(list), "sceneview": sceneview]
    }

    /// The scene view with nothing known of the window: the reference's placeholder.
    public static func emptySceneview(product: String) -> JSONValue {
        sceneview(product: product, window: nil, display: nil, viewports: [])
    }

    /// `{source: sceneview, product, window, display, viewports}`; a missing window or display is the reference's
    /// zeros and nulls.
    public static func sceneview(product: String, window: JSONValue?, display: JSONValue?, viewports: [JSONValue]) -> JSONValue {
        [
            "source": "sceneview", "product": .string(product),
            "window": window ?? ["screenX": 0, "screenY": 0, "outerWidth": 0, "outerHeight": 0, "innerWidth": 0, "innerHeight": 0],
            "display": display ?? ["layoutName": nil, "activeViewId": nil, "layoutScreenRect": nil, "layoutClientSize": nil],
            "viewports": .array(viewports),
        ]
    }
}
