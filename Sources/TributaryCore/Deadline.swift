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
