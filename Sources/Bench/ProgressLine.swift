import Foundation

/// A single self-overwriting status line on stderr ("allreduce f32 1 MiB 3/20 …") for long bench sweeps.
///
/// A sweep can run for minutes; a live line shows it is progressing without burying the table. It goes to stderr
/// so stdout stays the clean table that scripts parse, and it is off unless stderr is a terminal, so logs and CI
/// output get no carriage returns or escape codes. Each update rewrites the line in place with `\r` + `ESC[2K`
/// (erase line); text is cut to the terminal width, since a wrapped line can no longer be erased in place.
/// Thread-safe: updates from concurrent tasks are serialised by a lock.
public final class ProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private let output: @Sendable (String) -> Void
    private let lock = NSLock()
    /// Whether a line is currently shown (and so must be erased by `finish`).
    private var showing = false

    /// - Parameter enabled: defaults to whether stderr is a terminal.
    public convenience init(enabled: Bool = isatty(STDERR_FILENO) == 1) {
        self.init(enabled: enabled, output: Self.writeToStandardError)
    }

    /// Writing to `output` instead of stderr: lets tests see exactly what a terminal would receive.
    init(enabled: Bool, output: @escaping @Sendable (String) -> Void) {
        self.enabled = enabled
        self.output = output
    }

    /// Replaces the line with `text` (newlines become spaces; cut to the terminal width).
    public func update(_ text: String) {
        guard enabled else { return }
        var line = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        if let columns = Self.terminalColumns(), columns > 1, line.count > columns - 1 {
            line = String(line.prefix(columns - 1))
        }
        lock.withLock {
            output("\r\u{1B}[2K" + line)
            showing = true
        }
    }

    /// Erases the line, leaving the cursor at the start of an empty line for whatever is printed next.
    public func finish() {
        guard enabled else { return }
        lock.withLock {
            if showing { output("\r\u{1B}[2K") }
            showing = false
        }
    }

    /// Columns of the terminal on stderr, if it has a size.
    private static func terminalColumns() -> Int? {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }

    /// Writes with `write(2)` directly: unbuffered, so the line appears at once, and no shared `FILE*` state.
    private static func writeToStandardError(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { raw in
                write(STDERR_FILENO, raw.baseAddress! + offset, raw.count - offset)
            }
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                return  // stderr gone: progress is best-effort
            }
        }
    }
}
