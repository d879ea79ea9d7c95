import Testing
@testable import TributaryCore

/// A fabric of named switches (nil = forward only); admission needs no hosts or links.
func admissionFabric(_ switches: [(String, AggregationResources?)], name: String = "test") -> FabricResources {
    let topology = Topology(name: name, switches: switches.map { .init(name: $0.0, tier: "leaf", aggregation: $0.1) },
                            hosts: [], links: [])
    return FabricResources(topology: topology)
}

func resources(slots: Int = 64, maxJobs: Int = 4, maxTrees: Int = 4) -> AggregationResources {
    AggregationResources(slots: slots, slotBytes: 256 * 1024, maxJobs: maxJobs, maxTrees: maxTrees)
}

/// spine0 over leaf0 and leaf1, each with `AggregationResources.standard` (64 slots, 4 jobs, 4 trees).
func leafSpineFabric() -> FabricResources {
    admissionFabric([("spine0", .standard), ("leaf0", .standard), ("leaf1", .standard)])
}

/// Admits `job` and records an issue at the caller when it is refused: for set-up steps that must succeed
/// (`#expect` cannot take a mutating call).
func mustAdmit(_ fabric: inout FabricResources, _ job: UInt32, _ switches: [String], request: Int?,
               sourceLocation: SourceLocation = #_sourceLocation) {
    let decision = fabric.admit(job: job, switches: switches, request: request)
    #expect(decision.grant != nil, "job \(job) refused: \(decision.refusal?.description ?? "")",
            sourceLocation: sourceLocation)
}

@Suite struct AdmissionTests {
    @Test func defaultQuotaIsAnEqualShareOfAtLeastOneSlot() {
        #expect(JobQuota.defaultSlots(for: .standard) == 16)
        #expect(JobQuota.defaultSlots(for: resources(slots: 10, maxJobs: 4)) == 2)
        #expect(JobQuota.defaultSlots(for: resources(slots: 3, maxJobs: 8)) == 1)
        #expect(JobQuota().slots(at: .standard) == 16)
        #expect(JobQuota(slots: 5).slots(at: .standard) == 5)
    }

    @Test func maxJobsJobsWithDefaultQuotasFillTheSwitchExactly() {
        var fabric = admissionFabric([("leaf0", resources(slots: 10, maxJobs: 3))])
        for job: UInt32 in 1...3 {
            let decision = fabric.admit(job: job, switches: ["leaf0"], request: nil)
            #expect(decision == .granted(.init(slotsPerSwitch: ["leaf0": 3])))
        }
        #expect(fabric.usage(switch: "leaf0")?.slotsHeld == 9)
        #expect(fabric.usage(switch: "leaf0")?.jobs == [1: 3, 2: 3, 3: 3])
    }

    @Test func aTreeFromTheBuilderIsGrantedItsDefaultQuotaAtEverySwitch() throws {
        let topology = try loadTopologyConfig("default.yaml")
        let tree = try TreeBuilder(topology: topology).build(hosts: topology.hostNames)
        var fabric = FabricResources(topology: topology)
        let decision = fabric.admit(job: 1, switches: tree.aggregatorsTopDown, request: nil)
        #expect(decision == .granted(.init(slotsPerSwitch: ["spine0": 16, "leaf0": 16, "leaf1": 16])))
        #expect(fabric.jobs == [1])
        #expect(fabric.switchNames == ["spine0", "leaf0", "leaf1"])
    }

    @Test func twoJobsFitAndAThirdIsRefusedNamingBothHolders() {
        var fabric = leafSpineFabric()
        mustAdmit(&fabric, 4, ["leaf0"], request: 24)
        mustAdmit(&fabric, 3, ["leaf0"], request: 24)
        let expected = "switch leaf0: 48 of 64 slots held by jobs 3 and 4; job 7 asks 32"
        #expect(fabric.check(job: 7, switches: ["leaf0"], request: 32).refusal?.description == expected)
        let decision = fabric.admit(job: 7, switches: ["leaf0"], request: 32)
        #expect(decision.refusal?.description == expected)
        #expect(decision.refusal?.switchName == "leaf0")
        #expect(decision.refusal?.isPermanent == false)
        #expect(fabric.jobs == [3, 4])
        #expect(fabric.usage(switch: "leaf0")?.slotsHeld == 48)
        // What is left still fits.
        let rest = fabric.admit(job: 7, switches: ["leaf0"], request: 16)
        #expect(rest == .granted(.init(slotsPerSwitch: ["leaf0": 16])))
    }

    @Test func checkChangesNothing() {
        let fabric = leafSpineFabric()
        #expect(fabric.check(job: 1, switches: ["leaf0"], request: 64).grant != nil)
        #expect(fabric.jobs.isEmpty)
        #expect(fabric.usage(switch: "leaf0") == SwitchUsage(name: "leaf0", slots: 64, slotsHeld: 0, jobs: [:],
                                                             maxJobs: 4, maxTrees: 4))
    }

    @Test func aFullJobTableRefusesTheNextJob() {
        var fabric = leafSpineFabric()
        for job: UInt32 in [3, 1, 4, 2] { mustAdmit(&fabric, job, ["leaf0"], request: 1) }
        let refusal = fabric.admit(job: 7, switches: ["leaf0"], request: 1).refusal
        #expect(refusal?.description
                == "switch leaf0: 4 of 4 jobs already (jobs 1, 2, 3 and 4; max_jobs 4); job 7 cannot join")
    }

    @Test func aFullTreeTableRefusesTheNextJob() {
        var fabric = admissionFabric([("leaf0", resources(maxJobs: 8, maxTrees: 2))])
        for job: UInt32 in [2, 1] { mustAdmit(&fabric, job, ["leaf0"], request: nil) }
        let refusal = fabric.admit(job: 7, switches: ["leaf0"], request: nil).refusal
        #expect(refusal?.description
                == "switch leaf0: 2 of 2 trees already (jobs 1 and 2; max_trees 2); job 7 cannot join")
        #expect(fabric.usage(switch: "leaf0")?.trees == 2)
    }

    @Test func aRequestLargerThanTheSwitchIsRefusedForGood() {
        var fabric = leafSpineFabric()
        let refusal = fabric.admit(job: 7, switches: ["spine0", "leaf0"], request: 100).refusal
        #expect(refusal?.description == "switch spine0 has 64 slots; job 7 asks 100")
        #expect(refusal?.isPermanent == true)
        let zero = fabric.admit(job: 7, switches: ["leaf0"], request: 0).refusal
        #expect(zero?.description
                == "switch leaf0: job 7 asks 0 slots; a job needs at least 1")
        #expect(fabric.jobs.isEmpty)
    }

    @Test func anUnknownOrForwardOnlySwitchCannotAggregate() throws {
        var fabric = FabricResources(topology: try loadTopologyConfig("default.yaml"))
        let unknown = fabric.admit(job: 7, switches: ["spine0", "leaf9"], request: nil).refusal
        #expect(unknown?.description == "switch leaf9 cannot aggregate in topology default")
        #expect(unknown?.isPermanent == true)
        #expect(fabric.usage(switch: "leaf9") == nil)
        #expect(fabric.jobs.isEmpty)
        #expect(fabric.usage(switch: "spine0")?.slotsHeld == 0, "a refusal holds nothing, not even at earlier switches")

        let forwarding = admissionFabric([("core0", nil), ("leaf0", .standard)], name: "edge")
        #expect(forwarding.check(job: 7, switches: ["core0"], request: nil).refusal?.description
                == "switch core0 cannot aggregate in topology edge")
        #expect(forwarding.usage(switch: "core0") == nil)
        #expect(forwarding.switchNames == ["leaf0"])
    }

    @Test func aJobAcrossSpineAndLeafIsRefusedByTheFullSpineAlone() {
        var fabric = leafSpineFabric()
        mustAdmit(&fabric, 1, ["spine0", "leaf0"], request: 32)
        mustAdmit(&fabric, 2, ["spine0", "leaf1"], request: 32)
        let expected = "switch spine0: 64 of 64 slots held by jobs 1 and 2; job 7 asks 16"
        let refusal = fabric.admit(job: 7, switches: ["spine0", "leaf0"], request: 16).refusal
        #expect(refusal?.description == expected)
        #expect(fabric.refusals(job: 7, switches: ["spine0", "leaf0"], request: 16).map(\.switchName) == ["spine0"])
        #expect(fabric.usage(switch: "leaf0")?.jobs == [1: 32], "leaf0 had room but gave nothing")
    }

    @Test func theFirstRefusingSwitchInTheCallersOrderIsReported() {
        var fabric = leafSpineFabric()
        mustAdmit(&fabric, 1, ["spine0", "leaf0"], request: 64)
        #expect(fabric.check(job: 7, switches: ["spine0", "leaf0"], request: nil).refusal?.switchName == "spine0")
        #expect(fabric.check(job: 7, switches: ["leaf0", "spine0"], request: nil).refusal?.switchName == "leaf0")
        let all = fabric.refusals(job: 7, switches: ["leaf1", "leaf0", "spine0", "leaf0"], request: nil)
        #expect(all.map(\.description) == [
            "switch leaf0: 64 of 64 slots held by job 1; job 7 asks 16",
            "switch spine0: 64 of 64 slots held by job 1; job 7 asks 16",
        ])
        #expect(fabric.refusals(job: 7, switches: ["leaf1"], request: nil).isEmpty)
    }

    @Test func releaseIsIdempotentAndLeavesOthersAlone() {
        var fabric = leafSpineFabric()
        mustAdmit(&fabric, 1, ["spine0", "leaf0"], request: 8)
        mustAdmit(&fabric, 2, ["spine0", "leaf1"], request: 8)
        let released = [fabric.release(job: 1), fabric.release(job: 1), fabric.release(job: 99)]
        #expect(released == [true, false, false])
        #expect(fabric.jobs == [2])
        #expect(fabric.holding(job: 1) == nil)
        #expect(fabric.holding(job: 2) == ["spine0": 8, "leaf1": 8])
        #expect(fabric.usage(switch: "spine0")?.jobs == [2: 8])
        #expect(fabric.usage(switch: "leaf0")?.slotsHeld == 0)
    }

    @Test func admittingAgainReplacesTheHoldingAndARefusalKeepsIt() {
        var fabric = leafSpineFabric()
        mustAdmit(&fabric, 1, ["spine0", "leaf0"], request: 60)
        // Judged as if its own 60 slots were free: the new tree fits although the old one is still held.
        mustAdmit(&fabric, 1, ["spine0", "leaf1"], request: 50)
        #expect(fabric.holding(job: 1) == ["spine0": 50, "leaf1": 50])
        #expect(fabric.usage(switch: "leaf0")?.slotsHeld == 0)
        let tooBig = fabric.admit(job: 1, switches: ["spine0"], request: 100)
        #expect(tooBig.refusal != nil)
        #expect(fabric.holding(job: 1) == ["spine0": 50, "leaf1": 50])
    }

    @Test func releaseLetsTheQueuedJobIn() {
        var fabric = leafSpineFabric()
        var queue = AdmissionQueue()
        mustAdmit(&fabric, 1, ["spine0", "leaf0"], request: 48)
        let first = fabric.admit(job: 2, switches: ["spine0", "leaf0"], request: 32)
        #expect(first.refusal?.description == "switch spine0: 48 of 64 slots held by job 1; job 2 asks 32")
        queue.enqueue(job: 2, switches: ["spine0", "leaf0"], request: 32)
        #expect(queue.nextAdmissible(fabric) == nil)
        let none = queue.admitReady(into: &fabric)
        #expect(none.isEmpty)

        fabric.release(job: 1)
        #expect(queue.nextAdmissible(fabric) == .init(job: 2, switches: ["spine0", "leaf0"], request: 32))
        let admitted = queue.admitReady(into: &fabric)
        #expect(admitted.map(\.job) == [2])
        #expect(admitted.first?.grant == .init(slotsPerSwitch: ["spine0": 32, "leaf0": 32]))
        #expect(queue.isEmpty)
        #expect(fabric.jobs == [2])
    }

    @Test func theQueueIsStrictlyFirstInFirstOut() {
        var fabric = leafSpineFabric()
        var queue = AdmissionQueue()
        mustAdmit(&fabric, 1, ["leaf0"], request: 48)
        queue.enqueue(job: 2, switches: ["leaf0"], request: 32)  // does not fit yet
        queue.enqueue(job: 3, switches: ["leaf0"], request: 8)   // would fit, but waits behind job 2
        queue.enqueue(job: 4, switches: ["leaf1"], request: 8)
        queue.enqueue(job: 2, switches: ["leaf0"], request: 30)  // asks again: keeps its place
        #expect(queue.waiting.map(\.job) == [2, 3, 4])
        #expect(queue.position(of: 3) == 1)
        #expect(queue.nextAdmissible(fabric) == nil)
        let none = queue.admitReady(into: &fabric)
        #expect(none.isEmpty)

        fabric.release(job: 1)
        let admitted = queue.admitReady(into: &fabric)
        #expect(admitted.map(\.job) == [2, 3, 4])
        #expect(fabric.holding(job: 2) == ["leaf0": 30])

        queue.enqueue(job: 5, switches: ["leaf0"], request: 64)
        let removed = [queue.remove(job: 5), queue.remove(job: 5)]
        #expect(removed == [true, false])
        #expect(queue.isEmpty)
    }

    /// Seeded random admits and releases of jobs with one- and two-level trees: the limits always hold,
    /// the books always agree, and releasing everyone leaves nothing held.
    @Test func manyJobsAdmittedAndReleasedLeaveNothingHeld() {
        let shapes: [[String]] = [
            ["spine0", "leaf0"], ["spine0", "leaf1"], ["leaf0"], ["leaf1"], ["spine0", "leaf0", "leaf1"],
        ]
        var fabric = leafSpineFabric()
        var generator = SplitMix64(seed: 7)
        var live: Set<UInt32> = []
        var grants = 0, refusals = 0
        for iteration in 0..<1000 {
            let job = UInt32(generator.next() % 12)
            if live.contains(job), generator.next() % 2 == 0 {
                let released = fabric.release(job: job)
                #expect(released)
                live.remove(job)
            } else {
                let shape = shapes[Int(generator.next() % UInt64(shapes.count))]
                let request: Int? = generator.next() % 3 == 0 ? nil : Int(generator.next() % 40) + 1
                switch fabric.admit(job: job, switches: shape, request: request) {
                case .granted(let grant):
                    grants += 1
                    live.insert(job)
                    #expect(Set(grant.slotsPerSwitch.keys) == Set(shape))
                case .refused(let refusal):
                    refusals += 1
                    #expect(!refusal.isPermanent)
                }
            }
            #expect(fabric.jobs == live, "iteration \(iteration)")
            for name in fabric.switchNames {
                guard let usage = fabric.usage(switch: name) else { Issue.record("no usage for \(name)"); continue }
                #expect(usage.slotsHeld <= usage.slots && usage.jobs.count <= usage.maxJobs)
                #expect(usage.jobs.allSatisfy { fabric.holding(job: $0.key)?[name] == $0.value })
            }
        }
        #expect(grants > 100 && refusals > 100, "the run should exercise both answers (\(grants), \(refusals))")
        for job in live { fabric.release(job: job) }
        #expect(fabric.jobs.isEmpty)
        for name in fabric.switchNames {
            #expect(fabric.usage(switch: name)?.slotsHeld == 0)
            #expect(fabric.usage(switch: name)?.jobs.isEmpty == true)
        }
    }

    @Test func jobListsReadAsEnglish() {
        #expect(AdmissionRefusal.jobList([3]) == "job 3")
        #expect(AdmissionRefusal.jobList([4, 3]) == "jobs 3 and 4")
        #expect(AdmissionRefusal.jobList([3, 1, 2]) == "jobs 1, 2 and 3")
    }

    @Test func policiesAreNamedForConfiguration() {
        #expect(AdmissionPolicy.allCases.map(\.rawValue) == ["queue", "ring", "refuse"])
    }
}
