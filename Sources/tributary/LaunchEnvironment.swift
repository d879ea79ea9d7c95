import ArgumentParser
import Foundation

/// Rank and size from whichever launcher started this process, so `tributary worker` (and the C and
/// Python clients, issue 11) run unchanged under Open MPI, PMI/MPICH, Slurm and torchrun.
enum LaunchEnvironment {
    /// Each launcher's (rank, size) variables, in the order they are tried.
    static let launchers: [(name: String, rank: String, size: String)] = [
        ("Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ("PMI", "PMI_RANK", "PMI_SIZE"),
        ("Slurm", "SLURM_PROCID", "SLURM_NTASKS"),
        ("torchrun", "RANK", "WORLD_SIZE"),
    ]

    /// Explicit values win; otherwise the first launcher whose two variables are both set.
    static func rankAndSize(rank: Int?, size: Int?,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (Int, Int) {
        var found: (Int, Int)?
        for launcher in launchers {
            if let r = environment[launcher.rank].flatMap({ Int($0) }),
               let s = environment[launcher.size].flatMap({ Int($0) }) {
                found = (r, s)
                break
            }
        }
        guard let rank = rank ?? found?.0, let size = size ?? found?.1 else {
            throw ValidationError("give --rank and --size, or start this under a launcher that sets them ("
                                  + launchers.map { "\($0.rank)/\($0.size)" }.joined(separator: ", ") + ")")
        }
        guard size > 0, rank >= 0, rank < size else {
            throw ValidationError("rank \(rank) is outside 0..<\(size)")
        }
        return (rank, size)
    }
}
