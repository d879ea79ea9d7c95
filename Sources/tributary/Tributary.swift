import ArgumentParser

@main
struct Tributary: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tributary",
        abstract: "An emulator of switch-resident in-network reduction (SHARP-style) with real processes and sockets.",
        discussion: """
            Start here: `tributary launch --config Configs/default.yaml` runs a coordinator, one aggregator per \
            aggregating switch and one worker per host on loopback, performs validated allreduces through the \
            switch tree and prints a summary.
            """,
        subcommands: [LaunchCommand.self, ServeCommand.self, JobsCommand.self, StatusCommand.self, CoordinatorCommand.self, AggregatorCommand.self, WorkerCommand.self,
                      TopoCommand.self, BenchCommand.self, LimitsCommand.self, FabricCommand.self,
                      DoctorCommand.self, StreamCommand.self, MpirunCommand.self])
}
