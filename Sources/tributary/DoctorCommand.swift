import ArgumentParser
import Verbs

/// `tributary doctor`: the RDMA preflight (`RDMAReadiness`) for a person: what devices and ports
/// this host has, which GID index to use, the limits, and what is wrong, in words.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check this host's RDMA readiness (devices, port state, GID in use, MTU, limits) and say what is wrong in words.")

    func run() throws {
        let report = RDMAReadiness.check()
        print(report.render())
        if !report.usable {
            writeStderr("tributary doctor: RDMA is not usable: \(report.reason)")
            throw ExitCode(1)
        }
    }
}
