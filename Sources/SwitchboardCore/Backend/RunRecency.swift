/// Runs ordered by their newest task, for `RunListing` in backends that keep their index in
/// memory: noting a run again moves it to the front; the entries it leaves behind are skipped,
/// and dropped in bulk once they outnumber the live ones.
public struct RunRecency: Sendable {
    private var latest: [String: UInt64] = [:]
    /// Ascending by sequence.
    private var order: [(sequence: UInt64, run: String)] = []

    public init() {}

    /// `run` gained a task created at `sequence` (an older one than known changes nothing).
    public mutating func note(_ run: String, sequence: UInt64) {
        if let known = latest[run], known >= sequence { return }
        latest[run] = sequence
        if let last = order.last, last.sequence > sequence {
            order.insert((sequence, run), at: firstIndex(after: sequence))
        } else {
            order.append((sequence, run))
        }
        compactIfStale()
    }

    /// `run` has no tasks any more.
    public mutating func forget(_ run: String) {
        guard latest.removeValue(forKey: run) != nil else { return }
        compactIfStale()
    }

    /// Runs newest first, before `cursor` (exclusive), and the cursor of the next page.
    public func page(before cursor: UInt64?, limit: Int) -> (runs: [String], next: UInt64?) {
        if cursor == 0 { return ([], nil) }
        var i = cursor.map { firstIndex(after: $0 - 1) } ?? order.count
        var runs: [String] = []
        var last: UInt64 = 0
        while i > 0 {
            i -= 1
            let entry = order[i]
            guard latest[entry.run] == entry.sequence else { continue }
            if runs.count == limit { return (runs, last) }
            runs.append(entry.run)
            last = entry.sequence
        }
        return (runs, nil)
    }

    /// The index of the first entry with a sequence above `sequence`.
    private func firstIndex(after sequence: UInt64) -> Int {
        var (low, high) = (0, order.count)
        while low < high {
            let mid = (low + high) / 2
            if order[mid].sequence <= sequence { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private mutating func compactIfStale() {
        let stale = order.count - latest.count
        if stale >= 64, stale > latest.count {
            order.removeAll { latest[$0.run] != $0.sequence }
        }
    }
}
