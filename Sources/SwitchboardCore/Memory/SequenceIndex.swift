/// Tasks in the order of a sequence number, for cursor paging: appending is O(1), a page is a
/// binary search plus a scan, and removed entries are dropped lazily in bulk.
///
/// Cursors are the sequence numbers themselves, so a page continues after the last item it
/// returned even when tasks were added or removed in between: no gaps, no repeats.
struct SequenceIndex {
    struct Entry {
        var sequence: UInt64
        var box: TaskBox
    }

    private(set) var entries: [Entry] = []
    private(set) var liveCount = 0

    mutating func append(_ sequence: UInt64, _ box: TaskBox) {
        entries.append(Entry(sequence: sequence, box: box))
        liveCount += 1
    }

    /// Call after an entry stops being live; compacts once dead entries outnumber live ones.
    mutating func noteRemoval(isLive: (Entry) -> Bool) {
        liveCount -= 1
        let stale = entries.count - liveCount
        if stale >= 64 && stale >= liveCount {
            entries.removeAll { !isLive($0) }
        }
    }

    /// Live entries after `cursor`, up to `limit`; the next cursor when more may follow.
    func page(after cursor: UInt64?, limit: Int, matching: (Entry) -> Bool) -> (items: [TaskBox], next: UInt64?) {
        var low = 0
        if let cursor {
            var high = entries.count
            while low < high {
                let mid = (low + high) / 2
                if entries[mid].sequence <= cursor { low = mid + 1 } else { high = mid }
            }
        }
        var items: [TaskBox] = []
        var last: UInt64?
        var i = low
        while i < entries.count {
            let entry = entries[i]
            i += 1
            guard matching(entry) else { continue }
            if items.count == limit { return (items, last) }
            items.append(entry.box)
            last = entry.sequence
        }
        return (items, nil)
    }

    /// Every live entry that matches, in order.
    func all(matching: (Entry) -> Bool) -> [TaskBox] {
        entries.lazy.filter(matching).map(\.box)
    }
}
