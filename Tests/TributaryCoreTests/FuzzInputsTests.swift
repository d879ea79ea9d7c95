import Foundation
import FuzzChecks
import Testing
@testable import TributaryCore

/// Every input the fuzz targets keep — the seed corpus and each crash they ever found
/// (`Fuzz/regressions/<target>/`) — replayed through the very checks the targets run (docs/FUZZING.md),
/// so a fixed crash stays fixed without a fuzzer in the loop.
@Suite struct FuzzInputsTests {
    static let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static let checks: [String: @Sendable ([UInt8]) -> [String]] = [
        "frame-parser": FrameParserCheck.run,
        "control-message": ControlMessageCheck.run,
        "topology": TopologyCheck.run,
    ]

    /// The files of `Fuzz/<kind>/<target>` (READMEs aside), by name.
    static func inputs(_ kind: String, _ target: String) throws -> [(name: String, bytes: [UInt8])] {
        let directory = fuzz.appendingPathComponent(kind).appendingPathComponent(target)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        return try names.filter { !$0.hasPrefix("README") }.sorted().map { name in
            (name, Array(try Data(contentsOf: directory.appendingPathComponent(name))))
        }
    }

    /// A regression that hangs again (the alias bombs did) fails here instead of stalling the suite.
    @Test(.timeLimit(.minutes(1)), arguments: ["frame-parser", "control-message", "topology"])
    func keptInputsPassTheChecks(target: String) throws {
        let check = try #require(Self.checks[target])
        let corpus = try Self.inputs("corpus", target)
        #expect(corpus.count >= 5, "the seed corpus of \(target) is nearly empty")
        for (name, bytes) in try corpus + Self.inputs("regressions", target) {
            let problems = check(bytes)
            #expect(problems.isEmpty, "\(target)/\(name): \(problems.joined(separator: "; "))")
        }
    }

    /// The committed seeds are what today's encoder produces (a wire format change must refresh them:
    /// `TRIBUTARY_WRITE_FUZZ_CORPUS=1` and this test rewrites them).
    @Test func seedCorpusIsCurrent() throws {
        let write = ProcessInfo.processInfo.environment["TRIBUTARY_WRITE_FUZZ_CORPUS"] == "1"
        for (target, files) in FuzzSeeds.files {
            let directory = Self.fuzz.appendingPathComponent("corpus").appendingPathComponent(target)
            for (name, bytes) in files {
                let url = directory.appendingPathComponent(name)
                if write {
                    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
                    try Data(bytes).write(to: url)
                }
                let committed = try? Data(contentsOf: url)
                #expect(committed.map(Array.init) == bytes,
                        "Fuzz/corpus/\(target)/\(name) is stale: run this test with TRIBUTARY_WRITE_FUZZ_CORPUS=1")
            }
        }
    }

    /// The hand-written topology seeds are valid files (so the fuzzer starts past the parser's front
    /// door), except the one that declares a fabric far past the limits in two lines.
    @Test func topologySeedsParse() throws {
        for (name, bytes) in try Self.inputs("corpus", "topology") {
            let text = String(decoding: bytes, as: UTF8.self)
            if name == "huge-fat-tree.yaml" {
                let error = try #require(topologyParseError(text, source: name))
                #expect(error.kind == .invalidValue && error.message.contains("the limit is"), "\(error)")
            } else {
                #expect(throws: Never.self, "\(name)") { try Topology.parse(yaml: text, source: name) }
            }
        }
    }
}
