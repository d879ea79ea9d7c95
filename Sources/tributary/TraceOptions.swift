import ArgumentParser
import Foundation
import Logging
import TraceEvents
import TributaryCore

/// `--trace FILE` of launch, bench and serve. Every process records and writes its own trace — no
/// event crosses the data path's links, and a process that dies leaves what it last wrote — into
/// `<log dir>/trace/<child>.json`; the parent merges that directory into FILE at the end.
struct TraceOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Write a Chrome trace-event JSON of where each operation spent its time to this file: a span per operation "
            + "at every rank and switch, each chunk's arrivals, folds, sends and results on a lane per link. "
            + "Open it in https://ui.perfetto.dev (the file is read in the browser; nothing is uploaded).",
        valueName: "file"))
    var trace: String?

    /// FILE's directory must exist: a long run should not learn at its end that its trace has nowhere to go.
    func validate() throws {
        guard let trace else { return }
        let parent = URL(fileURLWithPath: trace).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("--trace: no directory \(parent) to write \(trace) into")
        }
    }

    /// The directory the children of a run logging to `logDirectory` write their traces into,
    /// emptied of an earlier run's traces; nil without `--trace`.
    func childDirectory(in logDirectory: String) throws -> String? {
        guard trace != nil else { return nil }
        let directory = "\(logDirectory)/trace"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            for name in try FileManager.default.contentsOfDirectory(atPath: directory)
            where name.hasSuffix(".json") || name.contains(".json.tmp.") {
                try FileManager.default.removeItem(atPath: "\(directory)/\(name)")
            }
        } catch {
            throw ValidationError("--trace: cannot prepare \(directory): \(error)")
        }
        return directory
    }

    /// The options that make child `name` write its trace into `directory` (none without one).
    static func childArguments(_ directory: String?, child name: String) -> [String] {
        directory.map { ["--trace-file", "\($0)/\(name).json"] } ?? []
    }

    /// FILE, or FILE with `suffix` before its extension (bench runs one cluster per window mode).
    func file(suffix: String = "") -> String? {
        guard let trace, !suffix.isEmpty else { return trace }
        let url = URL(fileURLWithPath: trace)
        guard !url.pathExtension.isEmpty else { return trace + suffix }
        return url.deletingPathExtension().path + suffix + "." + url.pathExtension
    }

    /// Merges the children's traces into FILE (`suffix`: see `file`) and says where it is, or why
    /// there is none: a run's outcome does not depend on its trace.
    func merge(_ directory: String?, command: String, suffix: String = "") {
        guard let directory, let file = file(suffix: suffix) else { return }
        do {
            let merge = try TraceMerger.merge(directory: directory, into: file)
            print("tributary \(command): trace written to \(file) (\(merge.processes) processes, "
                  + "\(merge.events) events, " + String(format: "%.1f MB", Double(merge.bytes) / 1e6) + "); open it in https://ui.perfetto.dev")
            for skipped in merge.skipped { writeStderr("tributary \(command): trace: left out \(skipped)") }
        } catch {
            writeStderr("tributary \(command): no trace written: \(error)")
        }
    }
}

/// `--trace-file PATH` of worker and aggregator: where this process writes its own trace.
struct TraceFileOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Write this process's trace (Chrome trace-event JSON) here, every 2 s while it "
                               + "changes and at exit; launch, bench and serve --trace set it.",
                               valueName: "path", visibility: .hidden))
    var traceFile: String?

    /// The trace of this process, shown as `processName`; its file is written once at once, so a
    /// path that cannot be written fails the process before it joins anything.
    func start(processName: String, logger: Logger) throws -> ProcessTrace {
        guard let traceFile else { return ProcessTrace(recorder: nil, periodic: nil, logger: logger) }
        let directory = URL(fileURLWithPath: traceFile).deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let recorder = TraceRecorder(processName: processName, path: traceFile)
        do {
            try recorder.flush()
        } catch {
            throw ValidationError("--trace-file: \(error)")
        }
        let periodic = PeriodicFlush(recorder, every: ProcessTrace.flushInterval) { [logger] error in
            logger.warning("trace: \(error)")
        }
        return ProcessTrace(recorder: recorder, periodic: periodic, logger: logger)
    }
}

/// One process's trace, if it keeps one: the observer to hand the data path (beside any other,
/// see `DataPlaneObservers.combine`), written every `flushInterval` while it changes — a process
/// killed without warning leaves its trace up to then — and once more by `finish`.
final class ProcessTrace {
    static let flushInterval: Duration = .seconds(2)

    let recorder: TraceRecorder?
    private let periodic: PeriodicFlush?
    private let logger: Logger

    init(recorder: TraceRecorder?, periodic: PeriodicFlush?, logger: Logger) {
        self.recorder = recorder
        self.periodic = periodic
        self.logger = logger
    }

    /// The trace's observer, or none.
    var observers: [any DataPlaneObserver] { recorder.map { [$0] } ?? [] }

    /// The last write, at the process's end (also when it fails).
    func finish() {
        guard let recorder else { return }
        periodic?.stop()
        do {
            let written = try recorder.flush()
            var dropped = ""
            if written.chunkEventsDropped + written.operationEventsDropped > 0 {
                dropped = "; limit reached: \(written.chunkEventsDropped) chunk events and "
                    + "\(written.operationEventsDropped) operation events not recorded"
            }
            logger.info("trace written to \(recorder.path): \(written.events) events\(dropped)")
        } catch {
            logger.error("trace: \(error)")
        }
    }
}
