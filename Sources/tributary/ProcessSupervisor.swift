import Foundation

/// Starts the cluster's processes and guarantees none outlives the launcher: each child's stdin
/// is a pipe the launcher holds (EOF = launcher gone, see `ParentWatch`), and `stopAll` ends the
/// rest with SIGTERM, then SIGKILL, and reaps them.
final class ProcessSupervisor: @unchecked Sendable {
    struct Child {
        let name: String
        let process: Process
        let stdinPipe: Pipe
        let logPath: String
    }

    private let lock = NSLock()
    private(set) var children: [Child] = []
    let executable: String
    let logDirectory: String

    init(executable: String, logDirectory: String) {
        self.executable = executable
        self.logDirectory = logDirectory
    }

    /// Starts `tributary <arguments>` with output to `<logDirectory>/<logName or name>.log`.
    @discardableResult
    func start(name: String, arguments: [String], wrapper: [String] = [], environment extra: [String: String] = [:],
               logName: String? = nil) throws -> Child {
        let process = Process()
        if wrapper.isEmpty {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            // e.g. `ip netns exec <ns>`: it execs the command, so the pid and stdin stay the child's.
            process.executableURL = URL(fileURLWithPath: wrapper[0])
            process.arguments = Array(wrapper.dropFirst()) + [executable] + arguments
        }
        let logPath = "\(logDirectory)/\((logName ?? name).replacingOccurrences(of: " ", with: "-")).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        let stdinPipe = Pipe()
        process.standardInput = stdinPipe
        var environment = ProcessInfo.processInfo.environment
        environment["TRIBUTARY_PARENT_WATCH"] = "stdin"
        // Secrets travel in the environment, which only this user can read (not argv, which anyone can).
        environment.merge(extra) { _, new in new }
        process.environment = environment
        try process.run()
        try? log.close()
        let child = Child(name: name, process: process, stdinPipe: stdinPipe, logPath: logPath)
        lock.withLock { children.append(child) }
        return child
    }

    /// The first child (other than those in `except`) that has ended with a failure, with a description.
    func firstFailed(except: Set<String> = []) -> (Child, String)? {
        let snapshot = lock.withLock { children }
        for child in snapshot where !except.contains(child.name) && !child.process.isRunning
            && !(child.process.terminationReason == .exit && child.process.terminationStatus == 0) {
            return (child, describeExit(child.process))
        }
        return nil
    }

    func describeExit(_ process: Process) -> String {
        switch process.terminationReason {
        case .exit: return "exited with status \(process.terminationStatus)"
        case .uncaughtSignal: return "killed by signal \(process.terminationStatus)"
        @unknown default: return "ended (\(process.terminationStatus))"
        }
    }

    /// SIGTERM (and SIGCONT, for a stopped one) to every live child, then SIGKILL after `grace`;
    /// waits until all are reaped.
    func stopAll(grace: TimeInterval = 3) {
        let snapshot = lock.withLock { children }
        for child in snapshot where child.process.isRunning {
            kill(child.process.processIdentifier, SIGTERM)
            // A stopped child (a hung switch, `--faults hang:`) hears SIGTERM only once continued.
            kill(child.process.processIdentifier, SIGCONT)
        }
        let deadline = Date().addingTimeInterval(grace)
        while Date() < deadline && snapshot.contains(where: { $0.process.isRunning }) {
            usleep(20_000)
        }
        for child in snapshot where child.process.isRunning {
            kill(child.process.processIdentifier, SIGKILL)
        }
        for child in snapshot {
            child.process.waitUntilExit()
            try? child.stdinPipe.fileHandleForWriting.close()
        }
    }

    /// Last lines of a child's log, for failure reports.
    func tail(_ child: Child, lines: Int = 15) -> String {
        guard let text = try? String(contentsOfFile: child.logPath, encoding: .utf8) else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines)
            .map { "    \($0)" }.joined(separator: "\n")
    }
}
