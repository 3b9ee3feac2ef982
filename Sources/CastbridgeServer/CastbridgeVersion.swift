/// castbridge's version (`castbridge --version`, the admin console's node, `/metrics`' `castbridge_build_info`).
public enum CastbridgeVersion {
    public static let current = "0.11.0"
}
