import Foundation

/// Why planning or operating a fabric failed. Command failures carry the exact argv, its exit
/// status and stderr (and, for `-batch` runs, the line that failed), so the message alone says what
/// to run by hand to reproduce it.
public enum FabricError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// The topology cannot be turned into a fabric (too large for the address pools, unknown nodes…).
    case plan(String)
    /// A command ran and exited non-zero. `input` holds the batch lines it was fed (empty when none).
    case commandFailed(command: [String], status: Int32, stderr: String, input: [String])
    /// A command could not be started at all (tool missing, not executable…).
    case launchFailed(command: [String], reason: String)
    /// `up` configured everything, but the fabric did not become complete in time (the problems
    /// `status` still reports).
    case notReady([String])
    /// `down` finished but these namespaces still exist.
    case leftovers([String])
    /// A prefix that could match namespaces of something other than a Tributary fabric.
    case unsafePrefix(String)

    public var description: String {
        switch self {
        case .plan(let message):
            return "fabric plan: \(message)"
        case .commandFailed(let command, let status, let stderr, let input):
            var text = "`\(command.joined(separator: " "))` exited with status \(status)"
            let trimmed = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { text += ": \(trimmed)" }
            if let line = Self.failedBatchLine(stderr: stderr), line >= 1, line <= input.count {
                text += " (batch line \(line): `\(input[line - 1])`)"
            }
            return text
        case .launchFailed(let command, let reason):
            return "cannot run `\(command.joined(separator: " "))`: \(reason)"
        case .notReady(let problems):
            return "fabric not complete after setup: \(problems.joined(separator: "; "))"
        case .leftovers(let names):
            return "namespaces still present after removal: \(names.joined(separator: ", "))"
        case .unsafePrefix(let prefix):
            return "refusing to remove namespaces by prefix `\(prefix)`: fabric prefixes look like "
                + "`\(FabricAddressing.namespacePrefixRoot)<name>-`"
        }
    }

    public var errorDescription: String? { description }

    /// `ip`/`tc` in batch mode report `Command failed <file>:<line>`.
    static func failedBatchLine(stderr: String) -> Int? {
        guard let range = stderr.range(of: "Command failed ") else { return nil }
        let rest = stderr[range.upperBound...].prefix { $0 != "\n" }
        guard let colon = rest.lastIndex(of: ":") else { return nil }
        return Int(rest[rest.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }
}
