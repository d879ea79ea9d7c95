import ArgumentParser
import TributaryCore

/// `--low-latency SIZE`: in-network operations of at most this size take the low-latency path (one
/// frame per rank up and down, the result copied out of it; SHARP's LLT beside its streaming SAT)
/// and report `low-latency`; larger ones stream and report `streaming`. On `coordinator`, and on
/// `launch`, `bench` and `serve`, which hand it to their coordinator.
struct LowLatencyOption: ParsableArguments {
    @Option(name: .customLong("low-latency"), help: ArgumentHelp(
        "In-network operations of at most this size take the low-latency path (one frame per rank; the job's "
            + "chunk size caps it; 0: only empty operations).",
        valueName: "size"))
    var threshold = ByteSize(StreamingParameters.defaultLowLatencyBytes)

    var bytes: Int { threshold.bytes }

    func validate() throws {
        guard threshold.bytes >= 0 && threshold.bytes <= 64 << 20 else {
            throw ValidationError("--low-latency takes 0 to 64MiB")
        }
    }
}
