import Foundation

/// Runs `ip`, `tc` and `sysctl` as child processes (argv arrays, never a shell).
///
/// Waits with `waitpid` once the child's output is read (not `Process.waitUntilExit()`, which on
/// Linux polls the run loop every 50 ms: with tens of commands per `up`, that polling alone would
/// cost seconds). Batch input goes through a temporary file (`-batch <file>`), so a tool that exits
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

        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C"
        let child = try Spawned(resolve(argv[0]), arguments: arguments, environment: environment, command: argv)
        let errors = Collected()
        let drained = DispatchSemaphore(value: 0)
        // A thread of its own, not a dispatch queue: blocking reads from many concurrent commands
        // would starve libdispatch's pool, which grows only slowly (seconds) on Linux.
        Thread.detachNewThread {
            errors.set(Spawned.readAll(child.stderr))
            drained.signal()
        }
        let stdout = Spawned.readAll(child.stdout)
        drained.wait()
        return Output(status: child.wait(), stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: errors.get(), as: UTF8.self))
    }

    /// A child started with posix_spawn, its stdout and stderr on pipes, stdin /dev/null.
    ///
    /// Not Foundation's `Process`: on Linux its `run()` over-reads `/proc/self/fd` directory entries
    /// while it closes the child's descriptors and crashes now and then (SIGSEGV in memcpy under
    /// `Process.run`, swiftlang/swift-corelibs-foundation#5472, fixed after this toolchain), which
    /// the hundreds of `ip` commands of a large fabric, run four at a time, hit in CI. The pipes are
    /// made close-on-exec, so a child inherits only its own ends (as 1 and 2), never another's.
    private struct Spawned {
        let pid: pid_t
        let stdout: Int32
        let stderr: Int32

        init(_ path: String, arguments: [String], environment: [String: String], command: [String]) throws {
            var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
            guard Self.closeOnExecPipe(&out) == 0 else {
                throw FabricError.launchFailed(command: command, reason: "pipe2: \(String(cString: strerror(errno)))")
            }
            guard Self.closeOnExecPipe(&err) == 0 else {
                let reason = String(cString: strerror(errno))
                close(out[0]); close(out[1])
                throw FabricError.launchFailed(command: command, reason: "pipe2: \(reason)")
            }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, out[1], 1)
            posix_spawn_file_actions_adddup2(&actions, err[1], 2)
            let argv = ([path] + arguments).map { strdup($0) } + [nil]
            let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer {
                argv.forEach { free($0) }
                envp.forEach { free($0) }
            }
            var pid: pid_t = 0
            let status = posix_spawn(&pid, path, &actions, nil, argv, envp)
            close(out[1])
            close(err[1])
            guard status == 0 else {
                close(out[0]); close(err[0])
                throw FabricError.launchFailed(command: command, reason: "posix_spawn \(path): \(String(cString: strerror(status)))")
            }
            self.pid = pid
            self.stdout = out[0]
            self.stderr = err[0]
        }

        /// pipe2(O_CLOEXEC): atomic, so a command spawned meanwhile on another thread never inherits
        /// these ends (Glibc's module map leaves pipe2 out; it is looked up once).
        private static func closeOnExecPipe(_ fds: inout [Int32]) -> Int32 {
            typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
            guard let pipe2 = Self.pipe2.symbol else {
                guard pipe(&fds) == 0 else { return -1 }
                for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
                return 0
            }
            return unsafeBitCast(pipe2, to: Pipe2.self)(&fds, O_CLOEXEC)
        }

        private struct Symbol: @unchecked Sendable { let symbol: UnsafeMutableRawPointer? }  // a code address, never written
        private static let pipe2 = Symbol(symbol: dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2"))

        /// Everything `fd` yields until EOF; closes it.
        static func readAll(_ fd: Int32) -> Data {
            defer { close(fd) }
            var data = Data()
            var buffer = [UInt8](repeating: 0, count: 16 << 10)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    data.append(contentsOf: buffer[..<n])
                } else if n == 0 || errno != EINTR {
                    return data
                }
            }
        }

        /// The exit status (128 + signal for a child killed by one, as a shell reports it).
        func wait() -> Int32 {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let signal = status & 0x7f
            return signal == 0 ? (status >> 8) & 0xff : 128 + signal
        }
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
