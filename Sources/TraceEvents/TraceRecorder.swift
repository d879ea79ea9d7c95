import Foundation
import TributaryCore

/// Records one process's data-plane events as a Chrome trace (Perfetto opens it): per operation a
/// span — a rank's from its start to its end, a switch's from the first contribution to the last
/// chunk it sent — and below them every chunk's arrival, fold, send and result, on one lane per
/// link, so a reader sees where an operation spent its time and which link held it up.
///
/// `observe` runs on the data path: it takes a lock, reads the clock and appends a few numbers;
/// names and JSON are made by `flush`, which writes the whole file again (the events already
/// encoded are kept encoded, so each is encoded once). Chunk-level events past
/// `Limits.chunkEvents` are counted, not kept; operation spans have a limit of their own (an
/// operation is a span per process but tens of chunk events), so a long run keeps its operations'
/// spans well after its chunk detail stopped.
public final class TraceRecorder: DataPlaneObserver, @unchecked Sendable {
    public struct Limits: Sendable {
        /// Chunk arrivals, folds, sends, results and slot counts kept per process.
        public var chunkEvents: Int
        /// Operation spans and job marks kept per process (a few hundred bytes each).
        public var operationEvents: Int

        public init(chunkEvents: Int = 200_000, operationEvents: Int = 100_000) {
            self.chunkEvents = chunkEvents
            self.operationEvents = operationEvents
        }
    }

    /// What one `flush` wrote.
    public struct Written: Sendable, Equatable {
        public var events: Int
        public var bytes: Int
        public var chunkEventsDropped: Int
        public var operationEventsDropped: Int
    }

    /// How the process is shown (e.g. "rank 3 (job launch)", "switch leaf0").
    public let processName: String
    /// Where `flush` writes.
    public let path: String
    private let pid: Int32
    private let clock: @Sendable () -> Int64

    /// NSLock rather than Synchronization.Mutex: the package still builds for macOS 14.
    private let lock = NSLock()
    private var state: RecordingState
    /// Held while a file is written; guards the encoded events.
    private let writeLock = NSLock()
    private var encodedOperations: [UInt8] = []
    private var encodedChunks: [UInt8] = []
    private var encodedCount = 0

    /// `pid` is this process's by default; `clock` (nanoseconds since the epoch) is for tests.
    public init(processName: String, path: String, limits: Limits = Limits(), pid: Int32 = getpid(),
                clock: @escaping @Sendable () -> Int64 = TraceClock.now) {
        self.processName = processName
        self.path = path
        self.pid = pid
        self.clock = clock
        state = RecordingState(limits: limits)
    }

    public func observe(_ event: DataPlaneEvent) {
        lock.lock()
        state.record(event, at: clock())
        lock.unlock()
    }

    /// Whether anything was heard since the file was last written.
    public var hasUnwrittenEvents: Bool {
        lock.withLock { state.changed }
    }

    /// Writes every event heard so far to `path` (atomically), operations still under way as spans
    /// up to now marked `open`.
    @discardableResult
    public func flush() throws(TraceError) -> Written {
        writeLock.lock()
        defer { writeLock.unlock() }
        let now = clock()
        let (unwritten, snapshot) = lock.withLock { (state.takeUnwritten(), state) }
        for record in unwritten.operations {
            encodedOperations.append(contentsOf: TraceJSON.separator)
            TraceJSON.append(record.event, pid: pid, to: &encodedOperations)
        }
        for record in unwritten.chunks {
            encodedChunks.append(contentsOf: TraceJSON.separator)
            TraceJSON.append(record.event, pid: pid, to: &encodedChunks)
        }
        encodedCount += unwritten.operations.count + unwritten.chunks.count
        let (open, lanes) = snapshot.openSpans(at: now)
        var head = TraceJSON.opening
        var metadata = 0
        func meta(_ name: String, tid: Int = 1, _ args: [(String, TraceValue)]) {
            if metadata > 0 { head.append(contentsOf: TraceJSON.separator) }
            TraceJSON.append(TraceEvent(.metadata, name: name, tid: tid, args: args), pid: pid, to: &head)
            metadata += 1
        }
        meta("process_name", [("name", .string(processName))])
        meta("tributary_dropped_events", [
            ("chunk_events_dropped", .int(snapshot.chunkEventsDropped)),
            ("chunk_events_limit", .int(snapshot.limits.chunkEvents)),
            ("operation_events_dropped", .int(snapshot.operationEventsDropped)),
            ("operation_events_limit", .int(snapshot.limits.operationEvents)),
        ])
        if snapshot.chunkEventsDropped + snapshot.operationEventsDropped > 0 {
            meta("process_labels", [("labels", .string(
                "trace limit reached: \(snapshot.chunkEventsDropped) chunk events and "
                + "\(snapshot.operationEventsDropped) operation events not recorded"))])
        }
        for (index, name) in lanes.names.enumerated() {
            meta("thread_name", tid: index + 1, [("name", .string(name))])
            meta("thread_sort_index", tid: index + 1, [("sort_index", .int(index + 1))])
        }
        var tail: [UInt8] = []
        for event in open {
            tail.append(contentsOf: TraceJSON.separator)
            TraceJSON.append(event, pid: pid, to: &tail)
        }
        tail.append(contentsOf: TraceJSON.closing)
        try AtomicFile.write([head, encodedOperations, encodedChunks, tail], to: path)
        return Written(events: metadata + encodedCount + open.count,
                       bytes: head.count + encodedOperations.count + encodedChunks.count + tail.count,
                       chunkEventsDropped: snapshot.chunkEventsDropped,
                       operationEventsDropped: snapshot.operationEventsDropped)
    }
}
