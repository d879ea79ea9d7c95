import Testing
import TributaryCore

/// Rank, size and job from each launcher's variables (the C library, Python and `worker` share them).
struct LaunchEnvironmentTests {
    @Test(arguments: [
        (["OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "8"], 3, 8),
        (["PMI_RANK": "1", "PMI_SIZE": "2"], 1, 2),
        (["SLURM_PROCID": "5", "SLURM_NTASKS": "6"], 5, 6),
        (["RANK": "0", "WORLD_SIZE": "4"], 0, 4),
    ])
    func eachLauncherGivesRankAndSize(environment: [String: String], rank: Int, size: Int) throws {
        let found = try LaunchEnvironment.rankAndSize(rank: nil, size: nil, environment: environment)
        #expect(found.rank == rank && found.size == size)
    }

    @Test func explicitValuesWinAndOpenMPIComesFirst() throws {
        let both = ["OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4", "RANK": "0", "WORLD_SIZE": "9"]
        #expect(try LaunchEnvironment.rankAndSize(rank: nil, size: nil, environment: both) == (2, 4))
        #expect(try LaunchEnvironment.rankAndSize(rank: 1, size: nil, environment: both) == (1, 4))
    }

    @Test func missingOrOutOfRangeIsNamed() {
        #expect(throws: LaunchEnvironment.Missing.self) {
            try LaunchEnvironment.rankAndSize(rank: nil, size: nil, environment: [:])
        }
        // Half a launcher (rank without size) is not a launcher.
        #expect(throws: LaunchEnvironment.Missing.self) {
            try LaunchEnvironment.rankAndSize(rank: nil, size: nil, environment: ["RANK": "1"])
        }
        do {
            _ = try LaunchEnvironment.rankAndSize(rank: 4, size: 4, environment: [:])
            Issue.record("rank 4 of 4 was accepted")
        } catch {
            #expect(error.description.contains("outside 0..<4"))
        }
    }

    @Test func jobNameFromTheLauncher() {
        #expect(LaunchEnvironment.jobName(environment: ["TRIBUTARY_JOB": "mine", "SLURM_JOB_ID": "7"]) == "mine")
        #expect(LaunchEnvironment.jobName(environment: ["OMPI_MCA_ess_base_jobid": "1234"]) == "ompi-1234")
        #expect(LaunchEnvironment.jobName(environment: ["SLURM_JOB_ID": "7", "SLURM_STEP_ID": "2"]) == "slurm-7.2")
        #expect(LaunchEnvironment.jobName(environment: ["TORCHELASTIC_RUN_ID": "abc"]) == "torchrun-abc")
        #expect(LaunchEnvironment.jobName(environment: [:]) == nil)
    }
}
