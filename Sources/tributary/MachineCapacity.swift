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

    /// Bytes a worker allocates for its workload: send, receive and the pristine input copy. In
    /// floating point, so absurd counts give an absurd figure rather than an overflow.
    static func workerBufferBytes(maxCount: Int) -> Double {
        (Double(maxCount) + 1) * 3 * Double(DType.allCases.map(\.size).max()!)
    }

    /// Throws naming the sizes when `workers` ranks (each with its buffers) and `daemons` processes
    /// need more than 80 % of the memory available now.
    static func checkCluster(command: String, workers: Int, daemons: Int, maxCount: Int) throws {
        let available = Double(availableBytes)
        let budget = available * 0.8
        let buffers = workerBufferBytes(maxCount: maxCount)
        let perWorker = buffers + Double(perProcessBytes)
        let daemonBytes = Double(daemons * perProcessBytes)
        let total = perWorker * Double(workers) + daemonBytes
        guard total <= budget else {
            let fitting = max(0, ((budget - daemonBytes) / perWorker).rounded(.down))
            refuse(
                "\(command): \(workers) workers and \(daemons) daemons would need about \(format(total)) "
                    + "(\(format(Double(perProcessBytes))) per process plus \(format(buffers)) of buffers per worker for "
                    + "counts up to \(maxCount)); this machine has \(format(available)) available and runs at most "
                    + "\(Int(fitting)) such workers: run fewer (--workers) or smaller --counts; `tributary topo` plans "
                    + "larger fabrics")
            throw ExitCode(2)
        }
    }

    /// Throws when one worker's buffers alone cannot fit in the memory available now.
    static func checkWorker(rank: Int, maxCount: Int) throws {
        let available = Double(availableBytes)
        let buffers = workerBufferBytes(maxCount: maxCount)
        guard buffers <= available * 0.8 else {
            refuse("worker rank \(rank): counts up to \(maxCount) need \(format(buffers)) of buffers; this machine "
                   + "has \(format(available)) available")
            throw ExitCode(2)
        }
    }

    /// The refusal goes to stderr as one clear line (not as a usage error: the options were well formed).
    private static func refuse(_ message: String) {
        writeStderr("tributary \(message)")
    }

    /// Approximate, for people: `22.1 GiB`, `763 TiB`.
    static func format(_ bytes: Double) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = bytes
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(Int(bytes)) B" : String(format: value < 10 ? "%.1f %@" : "%.0f %@", value, units[unit])
    }
}
