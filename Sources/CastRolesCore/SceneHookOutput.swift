import FHIRcastCore

/// What a display's scene hook prints (Docs/display.md): a JSON object with the viewer's `window`, `display`
/// (layout) and `viewports`, each viewport's `thumbnail` given as the path of a PNG the hook wrote. The display
/// reads those files and puts them in the reference's thumbnail shape (`contentType`, base64 `data`, `width`,
/// `height`).
public struct SceneHookOutput: Sendable, Equatable {
    public var window: JSONValue?
    public var display: JSONValue?
    public var viewports: [JSONValue]
    /// The thumbnail path of each viewport, by index into `viewports`.
    public var thumbnails: [Int: String]

    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// At most this many viewports are passed on.
    public static let maxViewports = 32

    public static func parse(_ json: JSONValue) throws(Invalid) -> SceneHookOutput {
        guard case .object(let root) = json else { throw Invalid(description: "the scene hook printed \(json.typeName), not a JSON object") }
        if let window = root["window"], window.objectValue == nil { throw Invalid(description: "window must be an object") }
        if let display = root["display"], display.objectValue == nil { throw Invalid(description: "display must be an object") }
        guard let list = root["viewports"]?.arrayValue ?? (root["viewports"] == nil ? [] : nil) else {
            throw Invalid(description: "viewports must be an array")
        }
        var viewports: [JSONValue] = []
        var thumbnails: [Int: String] = [:]
        for (index, viewport) in list.prefix(maxViewports).enumerated() {
            guard case .object(var object) = viewport else { throw Invalid(description: "viewport \(index) is not an object") }
            if let path = object["thumbnail"]?.stringValue ?? object["thumbnail"]?["path"]?.stringValue {
                thumbnails[index] = path
                object["thumbnail"] = nil
            }
            object["slotIndex"] = object["slotIndex"] ?? .int(Int64(index))
            viewports.append(.object(object))
        }
        return SceneHookOutput(window: root["window"], display: root["display"], viewports: viewports, thumbnails: thumbnails)
    }

    /// The viewports with their thumbnails: `pngs` holds each readable thumbnail's bytes as base64 with its size;
    /// a viewport whose file could not be read or is not a PNG goes without one.
    public func viewports(with pngs: [Int: (base64: String, width: Int, height: Int)]) -> [JSONValue] {
        viewports.enumerated().map { index, viewport in
            guard let png = pngs[index], case .object(var object) = viewport else { return viewport }
            object["thumbnail"] = ["contentType": "image/png", "data": .string(png.base64), "width": .int(Int64(png.width)), "height": .int(Int64(png.height))]
            return .object(object)
        }
    }
}
