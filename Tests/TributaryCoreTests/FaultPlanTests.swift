import Testing
import TributaryCore

/// `--faults SPEC`: every example of the grammar parses to what it says, the plan prints in words
/// and back to the same SPEC, and a mistake is refused naming the token and where it is.
@Suite struct FaultPlanTests {
    @Test func theExamplesParse() throws {
        let plan = try FaultPlan.parse(
            "kill:leaf0@op=3; hang:spine0@chunk=40; drop:h2-leaf0@frames=0.01; delay:leaf1-spine0@ms=5; "
                + "corrupt:leaf0@op=2,chunk=1; slow:rank=5@ms=20; seed=9")
        #expect(plan.seed == 9)
        #expect(plan.faults == [
            Fault(kind: .kill, target: .named("leaf0"), opSeq: 3),
            Fault(kind: .hang, target: .named("spine0"), chunk: 40),
            Fault(kind: .drop, target: .named("h2-leaf0"), fraction: 0.01),
            Fault(kind: .delay(milliseconds: 5), target: .named("leaf1-spine0")),
            Fault(kind: .corrupt, target: .named("leaf0"), opSeq: 2, chunk: 1),
            Fault(kind: .slow(milliseconds: 20), target: .rank(5)),
        ])
        #expect(plan.description == "faults (seed 9): kill leaf0 at op 3; hang spine0 at chunk 40; "
                + "drop 1% of frames on h2-leaf0; delay every frame on leaf1-spine0 by 5 ms; "
                + "corrupt a payload byte of every frame on leaf0 at op 2 chunk 1; "
                + "slow rank 5 by 20 ms before every operation")
    }

    @Test func theSeedDefaultsToOneAndPercentagesAndJobsAreTaken() throws {
        let plan = try FaultPlan.parse("drop:h0-leaf0@frames=2.5%,job=train,op=4;kill:leaf1")
        #expect(plan.seed == 1)
        #expect(plan.faults[0] == Fault(kind: .drop, target: .named("h0-leaf0"), opSeq: 4, fraction: 0.025, job: "train"))
        #expect(plan.description == "faults (seed 1): drop 2.5% of frames on h0-leaf0 at op 4 of job train; "
                + "kill leaf1 at its first chunk")
    }

    @Test func theSpecRoundTrips() throws {
        for spec in ["kill:leaf0@op=3,chunk=2,job=x;seed=3", "drop:edge-p0-0@frames=0.3", "delay:a-b@ms=7,frames=0.5",
                     "slow:rank=0@ms=1,op=9", "corrupt:h1-leaf0", "hang:spine0@chunk=0"] {
            let plan = try FaultPlan.parse(spec)
            #expect(try FaultPlan.parse(plan.spec) == plan, "\(spec) → \(plan.spec)")
        }
        #expect(try FaultPlan.parse("kill:leaf0@op=3;seed=3").spec == "seed=3;kill:leaf0@op=3")
    }

    @Test func aRestartedSwitchLosesOnlyItsOwnKillsAndHangs() throws {
        let plan = try FaultPlan.parse("kill:leaf0@op=3;hang:leaf1;drop:leaf0-spine0@frames=0.1;seed=4")
        let restarted = plan.withoutProcessFaults(on: "leaf0")
        #expect(restarted.seed == 4)
        #expect(restarted.faults == Array(plan.faults.dropFirst()))
    }

    /// What is refused, and the position reported (1-based, in characters of the whole SPEC).
    @Test(arguments: [
        ("", FaultSpecError.empty),
        (" ; ", .emptyItem(position: 1)),
        ("kill:leaf0;;hang:leaf1", .emptyItem(position: 12)),
        ("kil:leaf0", .unknownKind("kil", position: 1)),
        ("kill:leaf0; explode:leaf1", .unknownKind("explode", position: 13)),
        ("killleaf0", .unknownKind("killleaf0", position: 1)),
        ("kill:", .badTarget("", kind: "kill", position: 6, reason: "no target named")),
        ("kill:rank=3", .badTarget("rank=3", kind: "kill", position: 6, reason: "only slow takes a rank; kill takes a switch")),
        ("slow:leaf0@ms=3", .badTarget("leaf0", kind: "slow", position: 6, reason: "slow takes rank=R")),
        ("drop:h2-@frames=1", .badTarget("h2-", kind: "drop", position: 6, reason: "a link is NODE-NODE")),
        ("kill:leaf0@op", .badParameter("op", position: 12)),
        ("kill:leaf0@ms=3", .unknownParameter("ms", kind: "kill", position: 12, allowed: ["op=", "chunk=", "job="])),
        ("kill:leaf0@op=1,op=2", .duplicateParameter("op", position: 17)),
        ("kill:leaf0@op=0", .badValue(parameter: "op", value: "0", position: 15, expected: "an operation 1...1000000000")),
        ("kill:leaf0@op=three", .badValue(parameter: "op", value: "three", position: 15,
                                          expected: "an operation 1...1000000000")),
        ("delay:a-b@ms=600000", .badValue(parameter: "ms", value: "600000", position: 14, expected: "milliseconds 1...10000")),
        ("drop:a-b@frames=1.5", .badValue(parameter: "frames", value: "1.5", position: 17,
                                          expected: "a fraction of frames above 0 and at most 1 (0.01 or 1%)")),
        ("drop:a-b@frames=0", .badValue(parameter: "frames", value: "0", position: 17,
                                        expected: "a fraction of frames above 0 and at most 1 (0.01 or 1%)")),
        ("slow:rank=-1@ms=5", .badValue(parameter: "rank", value: "-1", position: 11, expected: "a rank 0...999999")),
        ("delay:a-b", .missingParameter("ms", kind: "delay", position: 1)),
        ("seed=1;seed=2", .duplicateSeed(position: 8)),
        ("seed=x", .badValue(parameter: "seed", value: "x", position: 6, expected: "an integer 0...18446744073709551615")),
    ])
    func mistakesAreNamedWithTheirPosition(spec: String, error: FaultSpecError) {
        #expect(throws: error) { try FaultPlan.parse(spec) }
    }

    @Test func tooManyFaultsAreRefused() {
        let spec = Array(repeating: "kill:leaf0", count: FaultPlan.maxFaults + 1).joined(separator: ";")
        #expect(throws: FaultSpecError.tooManyFaults(count: 65, limit: 64)) { try FaultPlan.parse(spec) }
    }

    @Test func aTrailingSeparatorIsHarmless() throws {
        #expect(try FaultPlan.parse("kill:leaf0;").faults.count == 1)
    }

    @Test func errorsReadAsSentences() {
        #expect(FaultSpecError.unknownKind("kil", position: 1).description
                == "--faults: position 1: unknown fault `kil` (kill, hang, drop, delay, corrupt, slow, or seed=N)")
        #expect(FaultSpecError.badValue(parameter: "ms", value: "0", position: 14, expected: "milliseconds 1...10000")
            .description == "--faults: position 14: ms=0: expected milliseconds 1...10000")
    }

    // MARK: Against a topology

    /// Names with `-` in them, as generated fat-trees have (`edge-p0-0`), and two that make a link
    /// name split two ways.
    static let topology: Topology = {
        let resources = AggregationResources.standard
        return Topology(name: "t", switches: ["spine0", "leaf0", "edge-p0-0", "edge-p0"].map {
            Topology.Switch(name: $0, tier: "leaf", aggregation: resources)
        }, hosts: ["h0", "h1", "p0-0", "0-h1"].map { Topology.Host(name: $0) }, links: [])
    }()

    @Test func namesAreCheckedAgainstTheTopology() throws {
        let t = Self.topology
        try FaultPlan.parse("kill:leaf0;drop:h1-edge-p0-0@frames=0.5;corrupt:edge-p0-0;slow:rank=1@ms=3")
            .validate(topology: t, aggregators: nil, worldSize: 2)
        #expect(throws: FaultSpecError.unknownNode("leaf9", fault: "kill:leaf9", topology: "t")) {
            try FaultPlan.parse("kill:leaf9").validate(topology: t, aggregators: nil, worldSize: nil)
        }
        #expect(throws: FaultSpecError.noAggregator("leaf0", fault: "hang:leaf0", running: ["spine0"])) {
            try FaultPlan.parse("hang:leaf0").validate(topology: t, aggregators: ["spine0"], worldSize: nil)
        }
        #expect(throws: FaultSpecError.noSuchRank(4, fault: "slow:rank=4@ms=3", worldSize: 4)) {
            try FaultPlan.parse("slow:rank=4@ms=3").validate(topology: t, aggregators: nil, worldSize: 4)
        }
        #expect(throws: FaultSpecError.ambiguousLink("h0-h9", fault: "drop:h0-h9", splits: [])) {
            try FaultPlan.parse("drop:h0-h9").validate(topology: t, aggregators: nil, worldSize: nil)
        }
        #expect(throws: FaultSpecError.ambiguousLink("edge-p0-0-h1", fault: "drop:edge-p0-0-h1",
                                                     splits: ["edge-p0 + 0-h1", "edge-p0-0 + h1"])) {
            try FaultPlan.parse("drop:edge-p0-0-h1").validate(topology: t, aggregators: nil, worldSize: nil)
        }
        // A node whose name holds `-` is the node, not a link.
        try FaultPlan.parse("drop:edge-p0-0;delay:edge-p0-p0-0@ms=1").validate(topology: t, aggregators: nil,
                                                                                worldSize: nil)
    }
}
