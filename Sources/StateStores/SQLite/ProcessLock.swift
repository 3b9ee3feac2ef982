#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An advisory lock on a file beside the store (`flock`), held while the store is open: a second castbridge on the
/// same SQLite file is refused, while backup tools (`sqlite3 … ".backup …"`) may still read it. The kernel releases it
/// when the process ends, however it ends.
final class ProcessLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock, or throws naming the file when another process holds it.
    init(path: String) throws(StoreError) {
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError("cannot create the store's lock file \(path) (errno \(errno))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw StoreError("the SQLite store is in use by another process (another castbridge?): \(path) is locked")
        }
        descriptor = fd
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
