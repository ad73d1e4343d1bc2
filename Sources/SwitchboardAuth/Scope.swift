/// What a caller may do (DESIGN.md §6). Every route of the API names the scopes that may call
/// it; `admin` may call every route.
public enum Scope: String, Sendable, Hashable, CaseIterable, Comparable {
    /// Every read: tasks, runs, dead letters, queues, locks, workers, `/metrics`, `/readyz`.
    case viewer
    /// Enqueue (one or a batch), read tasks and runs, cancel.
    case producer
    /// Leases, heartbeats, complete/fail/release, locks, `/v1/workers`.
    case worker
    /// A viewer that may also requeue, delete and purge dead letters, pause and resume queues,
    /// cancel tasks and release locks.
    case `operator`
    /// Everything.
    case admin

    public static func < (a: Scope, b: Scope) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Reads a comma- or space-separated list (`"worker, viewer"`, a JWT's `"scope"` claim).
    public static func list(_ text: some StringProtocol) throws(AuthError) -> Set<Scope> {
        var scopes: Set<Scope> = []
        for word in text.split(whereSeparator: { $0 == "," || $0 == " " }) {
            guard let scope = Scope(rawValue: String(word)) else { throw AuthError.unknownScope(String(word)) }
            scopes.insert(scope)
        }
        return scopes
    }
}

extension Set<Scope> {
    /// `producer worker`, in the order of `Scope.allCases`: for messages and logs.
    public var spelled: String { sorted().map(\.rawValue).joined(separator: " ") }
}

/// Scopes as written in a token file or a JWT's `scope` claim: one string of words
/// (`"worker viewer"`, OAuth's form) or a list.
struct ScopeWords: Codable, Sendable {
    var text: String

    init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer()
        if let words = try? value.decode(String.self) { text = words } else { text = try value.decode([String].self).joined(separator: " ") }
    }

    func encode(to encoder: any Encoder) throws {
        var value = encoder.singleValueContainer()
        try value.encode(text)
    }
}
