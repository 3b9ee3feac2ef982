#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Every subscriber's socket is a file descriptor, and many systems start a process with a soft limit of 1,024:
/// `serve` raises its soft limit to the hard one, as nginx and Go programs do, so that the hard limit (systemd's
/// `LimitNOFILE`, `docker run --ulimit nofile=…`) is what bounds the subscribers (Docs/operations.md). The
/// benchmark does the same for its thousands of client sockets.
package enum DescriptorLimit {
    /// Raises the soft limit to the hard one; the limit in force after, or nil when it cannot be read.
    @discardableResult
    package static func raiseToHard() -> UInt64? {
        var limit = rlimit()
        #if os(Linux)
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { return UInt64(raised.rlim_cur) }
        }
        return UInt64(limit.rlim_cur)
    }
}
