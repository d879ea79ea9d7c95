import Foundation

/// Runs `ip`, `tc` and `sysctl` as child processes (argv arrays, never a shell).
///
/// Waits through `terminationHandler` and a semaphore rather than `Process.waitUntilExit()`, which on
/// Linux polls the run loop every 50 ms: with tens of commands per `up`, that polling alone would
/// cost seconds. Batch input goes through a temporary file (`-batch <file>`), so a tool that exits
/// early can never leave us blocked on, or killed by (SIGPIPE), a full pipe.
enum CommandRunner {
    struct Output: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `argv`; `batch` lines are written to a temporary file whose path replaces every `"-"`
    /// after a `-batch` argument. Throws only when the process cannot be started.
    static func run(_ argv: [String], batch: [String]? = nil) throws -> Output {
        precondition(!argv.isEmpty)
        var arguments = Array(argv.dropFirst())
        var batchFile: String?
        defer { if let batchFile { try? FileManager.default.removeItem(atPath: batchFile) } }
        if let batch {
            let path = NSTemporaryDirectory() + "tributary-fabric-\(getpid())-\(UUID().uuidString).batch"
            do {
                try (batch.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
            } catch {
                throw FabricError.launchFailed(command: argv, reason: "cannot write batch file \(path): \(error)")
            }
            batchFile = path
            if let i = arguments.firstIndex(of: "-batch"), i + 1 < arguments.count { arguments[i + 1] = path }
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: resolve(argv[0]))
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C"
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do {
            try process.run()
        } catch {
            throw FabricError.launchFailed(command: argv, reason: "\(error)")
        }
        let errors = Collected()
        let errorReader = err.fileHandleForReading
        let drained = DispatchSemaphore(value: 0)
        // A thread of its own, not a dispatch queue: blocking reads from many concurrent commands
        // would starve libdispatch's pool, which grows only slowly (seconds) on Linux.
        Thread.detachNewThread {
            errors.set(errorReader.readDataToEndOfFile())
            drained.signal()
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        exited.wait()
        return Output(status: process.terminationStatus,
                      stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: errors.get(), as: UTF8.self))
    }

    /// Runs `argv` and returns its stdout; a non-zero exit is a `FabricError.commandFailed`.
    @discardableResult
    static func check(_ argv: [String], batch: [String]? = nil) throws -> String {
        let output = try run(argv, batch: batch)
        guard output.status == 0 else {
            throw FabricError.commandFailed(command: argv, status: output.status, stderr: output.stderr,
                                            input: batch ?? [])
        }
        return output.stdout
    }

    /// Absolute path of `tool`: as given when it contains a slash, else the first match in `PATH`
    /// and then the sbin directories, which `PATH` often lacks for non-login shells and test runners.
    static func resolve(_ tool: String) -> String {
        if tool.contains("/") { return tool }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init)
            + ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + tool
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return "/usr/sbin/" + tool
    }

    /// Runs `body` for every item on up to `width` threads of its own (the work blocks on child
    /// processes, so not on libdispatch's pool); rethrows the first error (by item order) after all
    /// have finished.
    static func concurrently<T: Sendable>(_ items: [T], width: Int = 4,
                                          _ body: @escaping @Sendable (T) throws -> Void) throws {
        guard items.count > 1 else {
            for item in items { try body(item) }
            return
        }
        let failures = Failures()
        let next = Counter()
        let workers = min(width, items.count)
        let finished = DispatchSemaphore(value: 0)
        for _ in 0..<workers {
            Thread.detachNewThread {
                while let i = next.take(below: items.count) {
                    do { try body(items[i]) } catch { failures.record(i, error) }
                }
                finished.signal()
            }
        }
        for _ in 0..<workers { finished.wait() }
        if let error = failures.first { throw error }
    }

    /// Bytes handed from the stderr reader thread.
    private final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        func set(_ value: Data) { lock.withLock { data = value } }
        func get() -> Data { lock.withLock { data } }
    }

    /// Hands out item indices to worker threads.
    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func take(below limit: Int) -> Int? {
            lock.withLock {
                guard value < limit else { return nil }
                defer { value += 1 }
                return value
            }
        }
    }

    /// Errors of concurrent work, first by item order.
    private final class Failures: @unchecked Sendable {
        private let lock = NSLock()
        private var errors: [(Int, any Error)] = []
        func record(_ index: Int, _ error: any Error) { lock.withLock { errors.append((index, error)) } }
        var first: (any Error)? { lock.withLock { errors.min { $0.0 < $1.0 }?.1 } }
    }
}
