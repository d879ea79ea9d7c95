// swift-tools-version:6.0
import PackageDescription

/// `TRIBUTARY_FUZZ=1` declares TributaryCore and the libFuzzer targets in `Fuzz/Targets` (their `main` is
/// libFuzzer's, so they only link with `-sanitize=fuzzer`): scripts/fuzz builds them in `.build-fuzz`.
let fuzz = Context.environment["TRIBUTARY_FUZZ"] == "1"
/// `TRIBUTARY_CORE_ONLY=1` declares only TributaryCore and its tests: a fast loop for the pure code
/// (no NIO build), used with its own `--scratch-path`.
let coreOnly = Context.environment["TRIBUTARY_CORE_ONLY"] == "1" || fuzz
/// Product and module of each fuzz target: one per input format a peer or a user controls (docs/FUZZING.md).
let fuzzTargets = [("fuzz-frame-parser", "FuzzFrameParser"), ("fuzz-control-message", "FuzzControlMessage"),
                   ("fuzz-topology", "FuzzTopology")]

let package = Package(
    name: "Tributary",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tributary", targets: ["tributary"]),
        .library(name: "TributaryCore", targets: ["TributaryCore"]),
        .library(name: "Worker", targets: ["Worker"]),
        // libTributaryC.so: tributary.h's C API; scripts/build-clients links it as libtributary.so beside
        // libtributary_mpi.so (the MPI interposition library) and tributary.pc.
        .library(name: "TributaryC", type: .dynamic, targets: ["TributaryC"]),
    ].filter { !coreOnly || $0.name == "TributaryCore" }
        + (fuzz ? fuzzTargets.map { .executable(name: $0.0, targets: [$0.1]) } : []),
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // No I/O: dtypes, kernels, wire format, topology and trees, inputs, replay.
        .target(name: "TributaryCore", dependencies: ["CKernels", .product(name: "Yams", package: "Yams")]),
        // The f16/bf16 kernels on the CPU's conversion instructions (F16C + AVX2), chosen at run time by
        // TributaryCore; plain C because Swift cannot compile a function for a CPU feature the target lacks.
        .target(name: "CKernels"),
        // libibverbs + librdmacm (headers from libibverbs-dev / librdmacm-dev; scripts/setup installs them).
        .systemLibrary(name: "CVerbs", pkgConfig: "libibverbs",
                       providers: [.apt(["libibverbs-dev", "librdmacm-dev"])]),
        // Swift owners of every verbs object (RAII), typed errors with one case per C call.
        .target(name: "Verbs", dependencies: ["CVerbs"]),
        // The transport contract and the in-process transport used by tests.
        .target(name: "Transport", dependencies: ["TributaryCore"]),
        // TCP over SwiftNIO.
        .target(name: "TransportTCP", dependencies: [
            "Transport", "TributaryCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        // RDMA verbs (RC queue pairs through rdma_cm), same contract as TCP.
        .target(name: "TransportRDMA", dependencies: ["Transport", "TributaryCore", "Verbs"]),
        // Who may talk to whom: fabric and job keys, the challenge–response every connection starts with.
        .target(name: "Authentication", dependencies: [
            "Transport", "TributaryCore", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "Aggregator", dependencies: [
            "Authentication", "Transport", "TributaryCore", .product(name: "Logging", package: "swift-log"),
        ]),
        // What the fabric shows of itself: data-plane and daemon metrics (swift-metrics), served in
        // Prometheus text format (swift-prometheus) by a small NIO HTTP/1 server.
        .target(name: "Telemetry", dependencies: [
            "TributaryCore",
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .target(name: "Worker", dependencies: [
            "Authentication", "Transport", "TributaryCore", .product(name: "Logging", package: "swift-log"),
        ]),
        // tributary.h (the C API's declarations; Sources/TributaryC implements them).
        .target(name: "TributaryCAPI"),
        // The C API over the Worker module: what C, MPI (through the interposition library) and Python call.
        .target(name: "TributaryC", dependencies: [
            "TributaryCAPI", "Worker", "Authentication", "Transport", "TransportTCP", "TributaryCore",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Coordinator", dependencies: [
            "Authentication", "Transport", "TributaryCore", .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
        ]),
        // Measuring: the machine's limits (memcpy, kernels, raw sockets), latency percentiles, plots.
        .target(name: "Bench", dependencies: [
            "TributaryCore", "Transport", .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        // The emulated fabric: namespaces, veth links, tc shaping, management network.
        .target(name: "Fabric", dependencies: ["TributaryCore"]),
        // Where operations spent their time: data-plane events as Chrome trace-event JSON (Perfetto).
        .target(name: "TraceEvents", dependencies: ["TributaryCore"]),
        .executableTarget(name: "tributary", dependencies: [
            "Bench", "Fabric", "Verbs", "Telemetry", "TraceEvents",
            "TributaryCore", "Transport", "TransportTCP", "TransportRDMA", "Aggregator", "Worker", "Coordinator",
            "Authentication", .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // What several test targets share: the RDMA test host, the test chunk, `within` deadlines.
        .target(name: "TributaryTestSupport", dependencies: ["TributaryCore", "Verbs"], path: "Tests/TestSupport"),
        .testTarget(name: "TributaryCoreTests", dependencies: ["TributaryCore", "FuzzChecks"]),
        // What the fuzz targets check (docs/FUZZING.md), shared with the test that replays every input
        // they ever kept.
        .target(name: "FuzzChecks", dependencies: ["TributaryCore"], path: "Fuzz/Checks"),
        .testTarget(name: "TransportTests", dependencies: [
            "Transport", "TransportTCP", "TransportRDMA", "Verbs", "TributaryCore", "TributaryTestSupport",
        ]),
        .testTarget(name: "CoordinatorTests", dependencies: ["Coordinator", "TributaryCore"]),
        .testTarget(name: "AuthenticationTests", dependencies: ["Authentication", "Transport", "TributaryCore"]),
        .testTarget(name: "ClusterTests", dependencies: [
            "Authentication", "Transport", "TransportTCP", "TransportRDMA", "Verbs", "TributaryCore", "Aggregator", "Worker",
            "Coordinator", "TributaryTestSupport", .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "LaunchTests", dependencies: ["TributaryCore", "TributaryTestSupport"]),
        // The C API's settings and entry points, called from Swift as C would (no fabric needed).
        .testTarget(name: "TributaryCTests", dependencies: ["TributaryC", "TributaryCAPI", "TributaryCore"]),
        .testTarget(name: "TelemetryTests", dependencies: [
            "Telemetry", "TributaryCore", "TributaryTestSupport",
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .testTarget(name: "AggregatorTests", dependencies: ["Aggregator", "TributaryCore"]),
        .testTarget(name: "BenchTests", dependencies: ["Bench", "TributaryCore"]),
        .testTarget(name: "FabricTests", dependencies: ["Fabric", "TributaryCore"]),
        .testTarget(name: "TraceEventsTests", dependencies: ["TraceEvents", "TributaryCore"]),
        .testTarget(name: "VerbsTests", dependencies: ["Verbs"]),
        .testTarget(name: "TransportRDMATests", dependencies: ["TransportRDMA", "Transport", "TributaryCore", "Verbs",
                                                                     "TributaryTestSupport"]),
    ].filter { !coreOnly || ["TributaryCore", "CKernels", "FuzzChecks", "TributaryCoreTests"].contains($0.name) }
        + (fuzz ? fuzzTargets.map { .executableTarget(name: $0.1, dependencies: ["FuzzChecks"],
                                                      path: "Fuzz/Targets/\($0.1)") } : [])
)
