/// How a refused token is answered (RFC 6750 §3): the error code and the `WWW-Authenticate` value.
public enum BearerChallenge {
    /// `invalid_token` for a 401 (no token, or one that does not verify), `insufficient_scope` for a 403.
    public static func errorCode(status: Int) -> String { status == 401 ? "invalid_token" : "insufficient_scope" }

    /// `Bearer realm="castbridge", error="…", error_description="…"`, the reason without quotes or backslashes.
    public static func header(status: Int, reason: String) -> String {
        let quoted = String(reason.filter { $0 != "\\" }.map { $0 == "\"" ? "'" : $0 })
        return "Bearer realm=\"castbridge\", error=\"\(errorCode(status: status))\", error_description=\"\(quoted)\""
    }
}
