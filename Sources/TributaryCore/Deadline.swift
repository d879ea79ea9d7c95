/// Runs `body`, and throws `timeout` instead if it has not finished within `limit`: a wait that
/// could hang (a stream, a peer, a test in the VM) ends with an error that names what was awaited.
/// The caller chooses the error, so a CLI can report it in its terms and a test in its own.
public func withDeadline<T: Sendable>(_ limit: Duration, orThrow timeout: any Error,
                                      _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw timeout }
        return value
    }
}

/// Actions due at instants, for a service that checks them on its own tick: the one deadline
/// mechanism of a daemon, instead of a fire-and-forget sleeping task per timeout (which nothing
/// cancels and which outlives the service).
public struct DeadlineQueue<Action> {
    private var entries: [(at: ContinuousClock.Instant, action: Action)] = []

    public init() {}

    public var count: Int { entries.count }

    public mutating func schedule(_ action: Action, after delay: Duration, now: ContinuousClock.Instant = .now) {
        entries.append((now + delay, action))
    }

    /// Removes and returns the actions due at `now`, earliest first.
    public mutating func due(now: ContinuousClock.Instant = .now) -> [Action] {
        let ready = entries.filter { $0.at <= now }.sorted { $0.at < $1.at }
        guard !ready.isEmpty else { return [] }
        entries.removeAll { $0.at <= now }
        return ready.map(\.action)
    }
}

/// Lets an actor start tasks that still belong to its `run()`: every spawned task is a child of a
/// discarding task group that `run()` awaits, so when the service returns every one of them has
/// ended — no stored `Task` arrays, nothing left running (DESIGN.md §10).
public final class TaskSpawner: Sendable {
    public typealias Operation = @Sendable () async -> Void
    private let stream: AsyncStream<Operation>
    private let continuation: AsyncStream<Operation>.Continuation

    public init() {
        (stream, continuation) = AsyncStream<Operation>.makeStream()
    }

    /// Starts `operation` as a child of the running `run()` (dropped if it has already ended).
    public func spawn(_ operation: @escaping Operation) { continuation.yield(operation) }

    /// Runs every spawned operation until `finish()` is called or the calling task is cancelled,
    /// then waits for those still running (cancelled with it).
    public func run() async {
        await withDiscardingTaskGroup { group in
            for await operation in stream { group.addTask(operation: operation) }
        }
    }

    /// No more operations: `run()` returns once the running ones end.
    public func finish() { continuation.finish() }
}
