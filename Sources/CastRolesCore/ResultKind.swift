/// Which Cast event carries a result file back, from its name: DICOM as `dicom-send`, NIfTI as `nifti-send`, and
/// NRRD, PNG and JPEG as their own binary events (cast-protocol.md §4.1). Other files are not sent.
public struct ResultKind: Sendable, Hashable {
    public var event: String
    public var mimeType: String

    public static func of(fileName: String) -> ResultKind? {
        let name = fileName.lowercased()
        if name.hasSuffix(".dcm") || name.hasSuffix(".dicom") || name.hasSuffix(".dic") {
            return ResultKind(event: "dicom-send", mimeType: "application/dicom")
        }
        if name.hasSuffix(".nii") || name.hasSuffix(".nii.gz") {
            return ResultKind(event: "nifti-send", mimeType: "application/vnd.unknown.nifti-1")
        }
        if name.hasSuffix(".nrrd") { return ResultKind(event: "nrrd-send", mimeType: "application/octet-stream") }
        if name.hasSuffix(".png") { return ResultKind(event: "png-send", mimeType: "image/png") }
        if name.hasSuffix(".jpg") || name.hasSuffix(".jpeg") { return ResultKind(event: "jpg-send", mimeType: "image/jpeg") }
        return nil
    }

    /// The name a file goes out under: the hub's allowlist refuses inner dots (`seg.v2.dcm`), so they become `_`.
    public static func sendName(_ fileName: String) -> String {
        let (stem, ext) = LocalFileName.split(fileName)
        let safeStem = String(stem.map { $0 == "." || $0 == " " ? "_" : $0 })
        return safeStem + ext.lowercased()
    }
}
