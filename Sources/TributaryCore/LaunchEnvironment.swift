import Foundation

/// Rank, size and job identity from whichever launcher started this process, so `tributary worker`,
/// the C library and the Python package run unchanged under Open MPI, PMI/MPICH, Slurm and torchrun.
public enum LaunchEnvironment {
    /// Each launcher's (rank, size) variables, in the order they are tried.
    public static let launchers: [(name: String, rank: String, size: String)] = [
        ("Open MPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ("PMI", "PMI_RANK", "PMI_SIZE"),
        ("Slurm", "SLURM_PROCID", "SLURM_NTASKS"),
        ("torchrun", "RANK", "WORLD_SIZE"),
    ]

    /// The variable that names a job explicitly (`tributary mpirun` sets it).
    public static let jobVariable = "TRIBUTARY_JOB"

    public struct Missing: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Explicit values win; otherwise the first launcher whose two variables are both set.
    public static func rankAndSize(rank: Int?, size: Int?,
                                   environment: [String: String] = ProcessInfo.processInfo.environment) throws(Missing)
        -> (rank: Int, size: Int) {
        var found: (Int, Int)?
        for launcher in launchers {
            if let r = environment[launcher.rank].flatMap({ Int($0) }),
               let s = environment[launcher.size].flatMap({ Int($0) }) {
                found = (r, s)
                break
            }
        }
        guard let rank = rank ?? found?.0, let size = size ?? found?.1 else {
            throw Missing(description: "give a rank and a size, or start this under a launcher that sets them ("
                          + launchers.map { "\($0.rank)/\($0.size)" }.joined(separator: ", ") + ")")
        }
        guard size > 0, rank >= 0, rank < size else {
            throw Missing(description: "rank \(rank) is outside 0..<\(size)")
        }
        return (rank, size)
    }

    /// A job name every rank of one launch agrees on without talking: `$TRIBUTARY_JOB`, else the
    /// launcher's own job identity (Open MPI's job id, Slurm's job and step, torchrun's run id),
    /// else nil (the caller then needs an explicit name).
    public static func jobName(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let name = environment[jobVariable], !name.isEmpty { return name }
        if let id = environment["OMPI_MCA_ess_base_jobid"], !id.isEmpty { return "ompi-\(id)" }
        if let job = environment["SLURM_JOB_ID"], !job.isEmpty {
            return "slurm-\(job).\(environment["SLURM_STEP_ID"] ?? "0")"
        }
        if let run = environment["TORCHELASTIC_RUN_ID"], !run.isEmpty { return "torchrun-\(run)" }
        return nil
    }
}
