import MetricsTestKit
@testable import SwitchboardCore
import SwitchboardJSON
import SwitchboardTesting
import Synchronization
import Testing

/// An engine on a manual clock, with its own metrics, so tests run without waiting or sharing.
struct EngineHarness {
    let clock = ManualClock()
    let metrics = TestMetrics()
    let engine: TaskEngine

    init(backend: (any TaskBackend)? = nil, _ configure: (inout EngineConfiguration) -> Void = { _ in }) {
        var configuration = EngineConfiguration()
        // Pin the jitter to its ceiling so retry times are exact.
        configuration.retry = RetryPolicy(jitter: { $0 })
        configure(&configuration)
        let (clock, metrics) = (clock, metrics)
        engine =
            backend.map { TaskEngine(backend: $0, configuration: configuration, clock: clock, metricsFactory: metrics) }
            ?? TaskEngine.memory(configuration: configuration, clock: clock, metricsFactory: metrics)
    }

    func counter(_ name: String, queue: String = "default", type: String = "tool_call") -> Int64 {
        (try? metrics.expectCounter(name, [("queue", queue), ("type", type)]).totalValue) ?? 0
    }

    /// Waits until `count` leasers are parked on the engine's ready signal.
    func waitForLeasers(_ count: Int = 1) async {
        while engine.readySignal.waiterCount < count { await Task.yield() }
    }
}

func echo(_ json: String = #"{"x":1}"#) -> TaskSubmission {
    TaskSubmission.toolCall("echo", input: try! RawJSON(validating: json))
}

func json(_ text: String) -> RawJSON { try! RawJSON(validating: text) }

/// Expects `body` to throw a `SwitchboardError` of `kind` whose detail mentions `mentioning`.
func expectError<T>(
    _ kind: SwitchboardError.Kind, mentioning: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> T
) async {
    do {
        _ = try await body()
        Issue.record("expected a \(kind) error", sourceLocation: sourceLocation)
    } catch let error as SwitchboardError {
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        if let mentioning {
            #expect(error.detail.contains(mentioning), "\(error.detail)", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

/// A value many tasks update (Mutex itself cannot be captured by escaping closures).
final class Shared<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }

    var value: Value { mutex.withLock { $0 } }
}

/// Waits (in real time, yielding) until `condition` holds; fails the test after `seconds`.
/// Only for waiting on work that other tasks do in response to the test; never for time itself.
func eventually(
    _ what: String, seconds: Double = 10, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(1))
    }
    Issue.record("timed out waiting for: \(what)", sourceLocation: sourceLocation)
    throw CancellationError()
}

/// A gate that handlers wait at until the test opens it.
final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let open = state.withLock { s in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if open { c.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { s in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
