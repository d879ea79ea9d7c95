import ArgumentParser

/// `--switch-silence S`: how long a switch may send nothing while an operation of one of its jobs
/// is in flight before the coordinator takes it as hung and rebuilds those jobs' trees without it
/// (docs/RELIABILITY.md, *Recovery*). On `coordinator`, and on `launch`, `bench` and `serve`, which
/// hand it to their coordinator.
struct RecoveryOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Seconds a switch may be silent (no heartbeat; it beats every 0.25 s) while one of its jobs has an "
            + "operation in flight before it is taken as hung and the jobs' trees are rebuilt without it (default 1).",
        valueName: "seconds"))
    var switchSilence: Double?

    func validate() throws {
        if let switchSilence, !(switchSilence >= 0.5 && switchSilence <= 3600) {
            throw ValidationError("--switch-silence takes 0.5 to 3600 seconds")
        }
    }

    /// The coordinator's arguments for it (none: the default).
    var childArguments: [String] { switchSilence.map { ["--switch-silence", "\($0)"] } ?? [] }
}
