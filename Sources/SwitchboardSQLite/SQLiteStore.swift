import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRDB
import GRDBSQLite
import SwitchboardJSON
import Synchronization
import SwitchboardCore

/// How a Switchboard database is opened.
public struct SQLiteConfiguration: Sendable, Hashable {
    /// SQLite's `synchronous` in WAL mode: what a commit waits for before it counts.
    public enum Synchronous: String, Sendable, Hashable, CaseIterable {
        /// Every commit is fsynced: an acknowledged change survives a power loss.
        case full = "FULL"
        /// Commits reach the operating system, fsynced at checkpoints: an acknowledged change
        /// survives a crash or kill of the process, not a power loss.
        case normal = "NORMAL"
    }

    public var path: String
    public var synchronous: Synchronous
    /// Writes that would grow the file beyond this answer "insufficient storage" (507), as a
    /// full disk does; nil: the disk is the limit.
    public var maxBytes: Int64?

    public init(path: String, synchronous: Synchronous = .full, maxBytes: Int64? = nil) {
        self.path = path
        self.synchronous = synchronous
        self.maxBytes = maxBytes
    }
}

/// The database file: one process owns it (a lock file says which), WAL journal, rows of whole
/// tasks. Opening checks the file (`quick_check`) and refuses a corrupt one with a clear message.
final class SQLiteStore: Sendable {
    let configuration: SQLiteConfiguration
    let database: DatabaseQueue
    /// The connection checkpoints run on.
    private let checkpointer: DatabaseQueue
    private let ownership: FileOwnership
    private let walPath: String
    /// Write-ahead log size past which a checkpoint is due.
    static let walCheckpointBytes: Int64 = 16 << 20

    /// 1: every task had a `tasks` row; 2: a task's state at creation is in its body row, and
    /// its `tasks` row is written from its first transition on (`upgrade` reads 1 as 2).
    static let schemaVersion = 2

    init(_ configuration: SQLiteConfiguration) throws {
        let path = configuration.path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw SQLiteStoreError.cannotOpen(path, "cannot create its directory: \(error.localizedDescription)")
            }
        }
        ownership = try FileOwnership(path: path + ".lock", database: path)
        var config = Configuration()
        config.journalMode = .wal
        config.label = "switchboard"
        let synchronous = configuration.synchronous
        let maxBytes = configuration.maxBytes
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous.rawValue)")
            // Checkpoints run on a connection of their own beside the commits (`checkpoint()`),
            // not inside whichever commit crosses SQLite's threshold, whose callers would wait
            // for the copy and its fsync (the 32-caller p99 of BENCHMARKS.md "SQLite").
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            try db.execute(sql: "PRAGMA journal_size_limit = \(Self.walCheckpointBytes * 4)")
            if let maxBytes {
                let pageSize = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
                try db.execute(sql: "PRAGMA max_page_count = \(max(maxBytes / pageSize, 16))")
            }
        }
        do {
            database = try DatabaseQueue(path: path, configuration: config)
            try database.writeWithoutTransaction { db in
                let check = try String.fetchAll(db, sql: "PRAGMA quick_check(5)")
                guard check == ["ok"] else { throw SQLiteStoreError.corrupt(path, check.joined(separator: "; ")) }
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                if version == 0 {
                    try Self.createSchema(db)
                } else if version > Self.schemaVersion {
                    throw SQLiteStoreError.cannotOpen(
                        path, "it was written by a newer switchboard (schema \(version), this one knows \(Self.schemaVersion))")
                } else if version < Self.schemaVersion {
                    try Self.upgrade(db, from: version)
                }
            }
            checkpointer = try DatabaseQueue(path: path, configuration: config)
        } catch let error as DatabaseError {
            ownership.release()
            throw SQLiteStoreError(error, path: path)
        } catch {
            ownership.release()
            throw error
        }
        self.configuration = configuration
        walPath = path + "-wal"
    }

    /// Whether the write-ahead log has grown enough to copy it into the database.
    var checkpointIsDue: Bool {
        // Asked after every commit: one stat(2), not FileManager's dictionary of attributes.
        var info = stat()
        guard stat(walPath, &info) == 0 else { return false }
        return Int64(info.st_size) >= Self.walCheckpointBytes
    }

    /// Copies committed pages from the write-ahead log into the database, beside the writer
    /// (passive: it never blocks a commit); the log starts over once it is all copied.
    func checkpoint() async throws {
        _ = try await checkpointer.writeWithoutTransaction { try $0.checkpoint(.passive) }
    }

    private static func createSchema(_ db: Database) throws {
        // Incremental auto-vacuum lets maintenance hand freed pages back (`reclaimSpace`); it
        // must be chosen before the first table.
        try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
        try db.execute(sql: "VACUUM")
        try db.inTransaction {
            try db.execute(
                sql: """
                    CREATE TABLE tasks (sequence INTEGER PRIMARY KEY NOT NULL, state BLOB NOT NULL);
                    CREATE TABLE task_bodies (sequence INTEGER PRIMARY KEY NOT NULL, body BLOB NOT NULL, created_state BLOB);
                    CREATE TABLE queues (name TEXT PRIMARY KEY NOT NULL, paused INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE TABLE idempotency_keys (key TEXT PRIMARY KEY NOT NULL, task_id TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE TABLE counters (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
                    CREATE TABLE locks (key TEXT PRIMARY KEY NOT NULL, holder TEXT NOT NULL, token INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
                    PRAGMA user_version = \(schemaVersion);
                    """)
            return .commit
        }
    }

    /// Brings an older file to the current schema, in one transaction.
    private static func upgrade(_ db: Database, from version: Int) throws {
        try db.inTransaction {
            // Version 1 wrote a `tasks` row for every task, which wins over a `created_state`.
            if version < 2 { try db.execute(sql: "ALTER TABLE task_bodies ADD COLUMN created_state BLOB") }
            try db.execute(sql: "PRAGMA user_version = \(schemaVersion)")
            return .commit
        }
    }

    func close() {
        try? checkpointer.close()
        try? database.close()
        ownership.release()
    }

    // MARK: Reading at start

    /// Every stored task, queue, idempotency key and counter.
    func loadImage() throws -> MemoryStateImage {
        do {
            return try database.read { db in
                var image = MemoryStateImage()
                // A task's latest state is its `tasks` row, or, before its first transition
                // wrote one, the state it was created in.
                let rows = try Row.fetchCursor(
                    db,
                    sql: """
                        SELECT task_bodies.sequence, task_bodies.body, coalesce(tasks.state, task_bodies.created_state)
                        FROM task_bodies LEFT JOIN tasks USING (sequence)
                        """)
                while let row = try rows.next() {
                    let body: [UInt8] = try row.withUnsafeData(atIndex: 1) { data in data.map { [UInt8]($0) } ?? [] }
                    let state: [UInt8] = try row.withUnsafeData(atIndex: 2) { data in data.map { [UInt8]($0) } ?? [] }
                    do {
                        let sequence: Int64 = row[0]
                        image.tasks.append(try StoredMemoryTask(sequence: UInt64(max(sequence, 0)), body: body, state: state))
                    } catch {
                        let sequence: Int64 = row[0]
                        throw SQLiteStoreError.corrupt(configuration.path, "the task of row \(sequence) cannot be read: \(error)")
                    }
                }
                for row in try Row.fetchAll(db, sql: "SELECT name, paused FROM queues") {
                    image.queues[row[0]] = (row[1] as Int) != 0
                }
                for row in try Row.fetchAll(db, sql: "SELECT key, task_id, expires_at FROM idempotency_keys") {
                    image.idempotencyKeys[row[0]] = IdempotencyEntry(taskID: row[1], expiresAt: Timestamp(milliseconds: row[2]))
                }
                let counters = try Self.counters(db)
                image.nextSequence = counters[Counter.nextSequence] ?? 1
                image.nextFencingToken = counters[Counter.nextFencingToken] ?? 1
                return image
            }
        } catch let error as DatabaseError {
            throw SQLiteStoreError(error, path: configuration.path)
        }
    }

    /// Held locks (expired ones too: the lock service drops them) and the next token.
    func loadLocks() throws -> (leases: [LockLease], nextToken: UInt64) {
        try database.read { db in
            let leases = try Row.fetchAll(db, sql: "SELECT key, holder, token, expires_at FROM locks").map { row in
                LockLease(key: row[0], holder: row[1], token: UInt64(max(row[2] as Int64, 0)), expiresAt: Timestamp(milliseconds: row[3]))
            }
            return (leases, try Self.counters(db)[Counter.nextLockToken] ?? 1)
        }
    }

    enum Counter {
        static let nextSequence = "next_sequence"
        static let nextFencingToken = "next_fencing_token"
        static let nextLockToken = "next_lock_token"
    }

    private static func counters(_ db: Database) throws -> [String: UInt64] {
        var counters: [String: UInt64] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT name, value FROM counters") {
            counters[row[0]] = UInt64(max(row[1] as Int64, 0))
        }
        return counters
    }

    // MARK: Writing

    /// Writes a batch in one transaction (one commit, one fsync with `FULL`), on the caller's
    /// thread (the commit log's writer).
    func write(_ batch: inout SQLiteBatch) throws {
        do {
            try database.write { db in
                if !batch.snapshotIndex.isEmpty {
                    let putBody = try db.cachedStatement(
                        sql: "INSERT INTO task_bodies (sequence, body, created_state) VALUES (?, ?, ?)")
                    let putState = try db.cachedStatement(
                        sql: "INSERT INTO tasks (sequence, state) VALUES (?, ?) ON CONFLICT (sequence) DO UPDATE SET state = excluded.state")
                    var body = JSONWriter(capacity: 2048)
                    var tail = JSONWriter(capacity: 256)
                    var state: [UInt8] = []
                    state.reserveCapacity(256)
                    // A new task is one row, its state beside its body; its `tasks` row comes
                    // with its first later transition, near the end of that table, since tasks
                    // move on roughly in creation order (BENCHMARKS.md "SQLite"). In key order:
                    // each row lands beside the one before, on a page SQLite's cursor is on.
                    try batch.forEachSnapshot { sequence, task, created in
                        task.encodeState(into: &state, tail: &tail)
                        if created {
                            body.removeAll()
                            task.encodeBody(into: &body)
                            try body.withBytes { body in
                                try state.withUnsafeBytes { state in
                                    try TaskRowWriter.put(putBody, sequence: sequence, blob: body, state, db: db)
                                }
                            }
                        } else {
                            try state.withUnsafeBytes { try TaskRowWriter.put(putState, sequence: sequence, blob: $0, db: db) }
                        }
                    }
                }
                if !batch.removedTasks.isEmpty {
                    let delete = try db.cachedStatement(sql: "DELETE FROM tasks WHERE sequence = ?")
                    let deleteBody = try db.cachedStatement(sql: "DELETE FROM task_bodies WHERE sequence = ?")
                    for sequence in batch.removedTasks {
                        try delete.execute(arguments: [Int64(sequence)])
                        try deleteBody.execute(arguments: [Int64(sequence)])
                    }
                }
                for (name, paused) in batch.queues {
                    try db.execute(
                        sql: "INSERT INTO queues (name, paused) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
                        arguments: [name, paused ? 1 : 0])
                }
                for (key, entry) in batch.idempotencyKeys {
                    if let entry {
                        try db.execute(
                            sql: """
                                INSERT INTO idempotency_keys (key, task_id, expires_at) VALUES (?, ?, ?)
                                ON CONFLICT (key) DO UPDATE SET task_id = excluded.task_id, expires_at = excluded.expires_at
                                """, arguments: [key, entry.taskID, entry.expiresAt.milliseconds])
                    } else {
                        try db.execute(sql: "DELETE FROM idempotency_keys WHERE key = ?", arguments: [key])
                    }
                }
                for (key, lease) in batch.locks {
                    // A newer grant of the key wins over an older one's renewal or release.
                    if let lease {
                        try db.execute(
                            sql: """
                                INSERT INTO locks (key, holder, token, expires_at) VALUES (?, ?, ?, ?)
                                ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at
                                WHERE excluded.token >= locks.token
                                """, arguments: [key, lease.holder, Int64(lease.token), lease.expiresAt.milliseconds])
                    } else {
                        try db.execute(
                            sql: "DELETE FROM locks WHERE key = ? AND token = ?",
                            arguments: [key, Int64(batch.releasedLockTokens[key] ?? 0)])
                    }
                }
                let setCounter = try db.cachedStatement(
                    sql: "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)")
                if let value = batch.nextSequence { try setCounter.execute(arguments: [Counter.nextSequence, Int64(value)]) }
                if let value = batch.nextFencingToken { try setCounter.execute(arguments: [Counter.nextFencingToken, Int64(value)]) }
                if let value = batch.nextLockToken { try setCounter.execute(arguments: [Counter.nextLockToken, Int64(value)]) }
            }
        } catch let error as DatabaseError {
            throw SQLiteStoreError(error, path: configuration.path)
        }
    }

    // MARK: Operations

    /// Bytes on disk: the database file and its write-ahead log.
    func sizeOnDisk() -> Int64 {
        func size(_ path: String) -> Int64 {
            ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
        }
        return size(configuration.path) + size(configuration.path + "-wal")
    }

    /// Hands free pages back to the file system when they are a quarter of the file or more
    /// (retention frees pages as it drops tasks; SQLite reuses them, but a file that grew for a
    /// burst should shrink again). Returns the pages freed.
    @discardableResult
    func reclaimSpace() async throws -> Int {
        try await database.writeWithoutTransaction { db in
            let free = try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            let total = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            guard free >= 256, free * 4 >= total else { return 0 }
            try db.execute(sql: "PRAGMA incremental_vacuum")
            return free
        }
    }

    /// A consistent copy of the database at `destination`, written while it keeps serving.
    func backup(to destination: String) throws {
        try SQLiteBackup.copy(from: database, to: destination)
    }
}

/// What one commit writes: the latest state of each task it touched, and the rest.
struct SQLiteBatch: Sendable {
    /// The snapshots of each transition, as they came, and where each task's latest is, by
    /// creation sequence (the tasks table's key): read in place by the writer, never copied
    /// (a snapshot's copy retains a dozen fields: BENCHMARKS.md "SQLite").
    private var snapshotLists: [[StoredMemoryTask]] = []
    /// `list << 32 | position` in `snapshotLists`; a removed task has none.
    private(set) var snapshotIndex: [UInt64: Int] = [:]

    /// Calls `body` with the latest snapshot of each task, in creation order, and whether the
    /// batch created it.
    ///
    /// In place (`inout`, though nothing is changed): handed over as a value, or borrowed, a
    /// snapshot was copied — a retain and a release of each of its fields — before each call on
    /// it. The batch must own its lists alone (the writer drops the changes it merged first), or
    /// the first access copies a whole list.
    mutating func forEachSnapshot(_ body: (UInt64, inout StoredMemoryTask, _ created: Bool) throws -> Void) rethrows {
        for (sequence, location) in snapshotIndex.sorted(by: { $0.key < $1.key }) {
            let created = createdTasks.contains(sequence)
            try body(sequence, &snapshotLists[location >> 32][location & 0xffff_ffff], created)
        }
    }
    /// Tasks new since the last commit: their bodies are written too.
    var createdTasks: Set<UInt64> = []
    var removedTasks: Set<UInt64> = []
    var queues: [String: Bool] = [:]
    var idempotencyKeys: [String: IdempotencyEntry?] = [:]
    /// Leases to store by key, or nil to forget the key's lease of `releasedLockTokens[key]`.
    var locks: [String: LockLease?] = [:]
    var releasedLockTokens: [String: UInt64] = [:]
    var nextSequence: UInt64?
    var nextFencingToken: UInt64?
    var nextLockToken: UInt64?
    /// Rows to write (counters alone wait for the next commit).
    var hasRows: Bool {
        !(snapshotIndex.isEmpty && removedTasks.isEmpty && queues.isEmpty && idempotencyKeys.isEmpty && locks.isEmpty)
    }

    mutating func merge(_ change: SQLiteCommitLog.Change) {
        switch change {
        case .state(let changes): merge(changes)
        case .lock(let key, let lease, let releasedToken): mergeLock(key: key, lease: lease, releasedToken: releasedToken)
        }
    }

    /// A lock granted, renewed (`lease`) or released (nil, with the released token): a newer
    /// grant of the key wins over an older one's renewal or release.
    mutating func mergeLock(key: String, lease: LockLease?, releasedToken: UInt64) {
        if let lease {
            if case .some(.some(let known)) = locks[key], known.token > lease.token {} else { locks[key] = lease }
            nextLockToken = max(nextLockToken ?? 0, lease.token + 1)
        } else {
            if case .some(.some(let known)) = locks[key], known.token != releasedToken {} else {
                locks[key] = .some(nil)
                releasedLockTokens[key] = releasedToken
            }
        }
    }

    mutating func merge(_ changes: MemoryStateChanges) {
        if !changes.tasks.isEmpty {
            let list = snapshotLists.count << 32
            snapshotLists.append(changes.tasks)
            for position in changes.tasks.indices {
                let sequence = changes.tasks[position].createdSequence
                snapshotIndex[sequence] = list | position
                if !removedTasks.isEmpty { removedTasks.remove(sequence) }
            }
        }
        for sequence in changes.createdTasks { createdTasks.insert(sequence) }
        for sequence in changes.removedTasks {
            snapshotIndex[sequence] = nil
            // Created and dropped before a commit: neither is written.
            if createdTasks.remove(sequence) == nil { removedTasks.insert(sequence) }
        }
        for (name, paused) in changes.queues { queues[name] = paused }
        for (key, entry) in changes.idempotencyKeys { idempotencyKeys[key] = .some(entry) }
        nextSequence = max(nextSequence ?? 0, changes.nextSequence)
        nextFencingToken = max(nextFencingToken ?? 0, changes.nextFencingToken)
    }
}

/// Online backup with SQLite's backup API: the copy is one consistent snapshot, and the source
/// keeps serving while it is taken (the copy is read in one step under a read transaction).
public enum SQLiteBackup {
    /// Copies the database at `source` (read-only, beside the server that owns it) to `destination`.
    public static func copy(databaseAt source: String, to destination: String) throws {
        guard FileManager.default.fileExists(atPath: source) else {
            throw SQLiteStoreError.cannotOpen(source, "no such file")
        }
        var config = Configuration()
        config.readonly = true
        do {
            let reader = try DatabaseQueue(path: source, configuration: config)
            defer { try? reader.close() }
            try copy(from: reader, to: destination)
        } catch let error as DatabaseError {
            throw SQLiteStoreError(error, path: source)
        }
    }

    static func copy(from reader: some DatabaseReader, to destination: String) throws {
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw SQLiteStoreError.cannotOpen(destination, "the backup's destination exists already: name a new file")
        }
        do {
            let target = try DatabaseQueue(path: destination)
            defer { try? target.close() }
            try reader.backup(to: target)
            try target.writeWithoutTransaction { db in
                let check = try String.fetchAll(db, sql: "PRAGMA quick_check(1)")
                guard check == ["ok"] else { throw SQLiteStoreError.corrupt(destination, check.joined(separator: "; ")) }
            }
        } catch let error as DatabaseError {
            throw SQLiteStoreError(error, path: destination)
        }
    }
}

/// The database errors a person acts on, in words, and the kind of answer they become.
public enum SQLiteStoreError: Error, CustomStringConvertible, Sendable {
    case locked(String, owner: String?)
    case corrupt(String, String)
    case full(String)
    case cannotOpen(String, String)
    case failed(String, String)

    init(_ error: DatabaseError, path: String) {
        switch error.resultCode {
        case .SQLITE_FULL: self = .full(path)
        case .SQLITE_CORRUPT, .SQLITE_NOTADB: self = .corrupt(path, error.message ?? "\(error.resultCode)")
        case .SQLITE_BUSY, .SQLITE_LOCKED: self = .locked(path, owner: nil)
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY: self = .cannotOpen(path, error.message ?? "\(error.resultCode)")
        default: self = .failed(path, "\(error.resultCode): \(error.message ?? "")")
        }
    }

    public var description: String {
        switch self {
        case .locked(let path, let owner):
            "database \(path) is in use by another switchboard process\(owner.map { " (\($0))" } ?? ""): one server per database file — stop that one or give this one another --data-dir"
        case .corrupt(let path, let detail):
            "database \(path) is corrupt (\(detail)): restore it from a backup (switchboard backup) or move it aside to start empty"
        case .full(let path):
            "database \(path) cannot grow: the disk (or --sqlite-max-bytes) is full; writes are refused until there is room, reads go on"
        case .cannotOpen(let path, let detail):
            "database \(path) cannot be opened: \(detail)"
        case .failed(let path, let detail):
            "database \(path) failed: \(detail)"
        }
    }

    /// The error the engine and the API answer with.
    var switchboardError: SwitchboardError {
        switch self {
        case .full: .insufficientStorage(description)
        default: .unavailable(description)
        }
    }
}

/// The statements every commit runs per task, bound and stepped through SQLite's C API: the
/// blob is bound in place (no `Data` copy, no boxed arguments), which GRDB's `execute(arguments:)`
/// cannot do (BENCHMARKS.md "SQLite").
enum TaskRowWriter {
    /// Binds `sequence` and then `blob` (and `second`) to the statement's parameters and runs it.
    static func put(
        _ statement: Statement, sequence: UInt64, blob: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer? = nil, db: Database
    ) throws {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_bind_int64(handle, 1, Int64(sequence))
        sqlite3_bind_blob(handle, 2, blob.baseAddress, Int32(blob.count), nil)
        if let second { sqlite3_bind_blob(handle, 3, second.baseAddress, Int32(second.count), nil) }
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
    }
}
