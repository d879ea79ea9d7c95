import ArgumentParser
import Foundation
import TributaryCore

/// What this machine can hold, so `launch`, `bench` and `worker` refuse a cluster or a buffer that
/// would exhaust it — with the figure and what it can do instead — rather than spawn 100,000
/// processes or die allocating.
enum MachineCapacity {
    /// Resident memory of one idle rank or daemon: 36–43 MiB measured (`VmRSS` of every process of
    /// a `launch --counts 1000`), rounded up for the runtime's growth under load.
    static let perProcessBytes = 48 << 20

    /// `MemAvailable` from /proc/meminfo (the physical memory where that cannot be read).
    static var availableBytes: Int {
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
                if let kb = line.split(separator: " ").compactMap({ Int($0) }).first { return kb * 1024 }
            }
        }
        return Int(clamping: ProcessInfo.processInfo.physicalMemory)
    }

    /// Bytes a worker allocates for its workload: send, receive and the pristine input copy.
    static func workerBufferBytes(maxCount: Int) -> Int {
        let (product, overflow) = (maxCount + 1).multipliedReportingOverflow(by: 3 * DType.allCases.map(\.size).max()!)
        return overflow ? Int.max : product
    }

    /// Throws naming the sizes when `workers` ranks (each with its buffers) and `daemons` processes
    /// need more than 80 % of the memory available now.
    static func checkCluster(command: String, workers: Int, daemons: Int, maxCount: Int) throws {
        let buffers = workerBufferBytes(maxCount: maxCount)
        let perWorker = buffers.addingReportingOverflow(perProcessBytes)
        let workerTotal = perWorker.overflow ? (Int.max, true) : perWorker.partialValue.multipliedReportingOverflow(by: workers)
        let total = workerTotal.1 ? Int.max : workerTotal.0.addingReportingOverflow(daemons * perProcessBytes).partialValue
        let budget = availableBytes / 10 * 8
        guard total <= budget else {
            refuse(
                "\(command): \(workers) workers and \(daemons) daemons would need about \(format(total)) "
                    + "(\(format(perProcessBytes)) per process plus \(format(buffers)) of buffers per worker for "
                    + "counts up to \(maxCount)); this machine has \(format(availableBytes)) available and runs at most "
                    + "\(max(0, (budget - daemons * perProcessBytes) / max(1, perWorker.overflow ? Int.max : perWorker.partialValue))) "
                    + "such workers: run fewer (--workers) or smaller --counts; `tributary topo` plans larger fabrics")
            throw ExitCode(2)
        }
    }

    /// Throws when one worker's buffers alone cannot fit in the memory available now.
    static func checkWorker(rank: Int, maxCount: Int) throws {
        let buffers = workerBufferBytes(maxCount: maxCount)
        guard buffers <= availableBytes / 10 * 8 else {
            refuse("worker rank \(rank): counts up to \(maxCount) need \(format(buffers)) of buffers; this machine "
                   + "has \(format(availableBytes)) available")
            throw ExitCode(2)
        }
    }

    /// The refusal goes to stderr as one clear line (not as a usage error: the options were well formed).
    private static func refuse(_ message: String) {
        writeStderr("tributary \(message)")
    }

    /// Approximate, for people: `22.1 GiB`, `763 TiB`.
    static func format(_ bytes: Int) -> String {
        guard bytes != Int.max else { return "more than any machine has" }
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: value < 10 ? "%.1f %@" : "%.0f %@", value, units[unit])
    }
}
