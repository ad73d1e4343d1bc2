import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One process per database file: an exclusive `flock` on a lock file beside it, held while the
/// store is open and let go by the kernel when the process dies (a `kill -9` leaves no stale lock).
/// A separate file, because closing any descriptor of the database itself would drop SQLite's
/// own POSIX locks on it.
final class FileOwnership: Sendable {
    private let descriptor: Mutex<Int32>

    init(path: String, database: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SQLiteStoreError.cannotOpen(database, "cannot create its lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 64)
            let count = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            let owner = count > 0 ? String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
            throw SQLiteStoreError.locked(database, owner: owner.isEmpty ? nil : owner)
        }
        let text = Array("pid \(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, text, text.count, 0)
        descriptor = Mutex(fd)
    }

    func release() {
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            _ = flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}
