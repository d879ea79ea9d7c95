import Foundation
import Testing
import TributaryCore

/// The plan's decisions are a function of the seed and of the frame alone: the same frame draws
/// the same fate in every run and in every process, a fraction hits about that share of frames,
/// and kills and hangs fire once at the contribution they name.
@Suite struct FaultDecisionTests {
    func fates(_ plan: FaultPlan, frames: Int = 2000) -> [FrameFault] {
        (0..<frames).map { i in
            plan.frameFault(from: "h2", to: "leaf0", job: "launch", opSeq: UInt64(1 + i / 100), chunk: UInt32(i % 100),
                            payloadBytes: 4096)
        }
    }

    @Test func theSameSeedDropsTheSameFramesAndAnotherSeedOthers() throws {
        let a = fates(try FaultPlan.parse("drop:h2-leaf0@frames=0.1;seed=7"))
        let again = fates(try FaultPlan.parse("seed=7; drop:h2-leaf0@frames=10%"))
        let other = fates(try FaultPlan.parse("drop:h2-leaf0@frames=0.1;seed=8"))
        #expect(a == again)
        #expect(a != other)
        let dropped = a.filter(\.drop).count
        #expect((140...260).contains(dropped), "\(dropped) of 2000 frames dropped at 10%")
    }

    @Test func aLinkCoversBothWaysAndANodeWhatItSends() throws {
        let link = try FaultPlan.parse("drop:leaf0-h2")
        #expect(link.frameFault(from: "h2", to: "leaf0", job: "j", opSeq: 1, chunk: 0, payloadBytes: 8).drop)
        #expect(link.frameFault(from: "leaf0", to: "h2", job: "j", opSeq: 1, chunk: 0, payloadBytes: 8).drop)
        #expect(!link.frameFault(from: "leaf0", to: "h3", job: "j", opSeq: 1, chunk: 0, payloadBytes: 8).drop)
        let node = try FaultPlan.parse("drop:leaf0")
        #expect(node.frameFault(from: "leaf0", to: "spine0", job: "j", opSeq: 1, chunk: 0, payloadBytes: 8).drop)
        #expect(!node.frameFault(from: "h2", to: "leaf0", job: "j", opSeq: 1, chunk: 0, payloadBytes: 8).drop)
    }

    @Test func filtersNarrowToTheNamedJobOperationAndChunk() throws {
        let plan = try FaultPlan.parse("delay:h2-leaf0@ms=5,op=2,chunk=1,job=train")
        func delay(_ job: String, _ op: UInt64, _ chunk: UInt32) -> Duration {
            plan.frameFault(from: "h2", to: "leaf0", job: job, opSeq: op, chunk: chunk, payloadBytes: 8).delay
        }
        #expect(delay("train", 2, 1) == .milliseconds(5))
        #expect(delay("train", 2, 0) == .zero)
        #expect(delay("train", 3, 1) == .zero)
        #expect(delay("other", 2, 1) == .zero)
        let two = try FaultPlan.parse("delay:h2-leaf0@ms=5;delay:h2@ms=3;corrupt:h2-leaf0@op=9")
        #expect(two.frameFault(from: "h2", to: "leaf0", job: "j", opSeq: 1, chunk: 0, payloadBytes: 8)
                == FrameFault(delay: .milliseconds(8)))
    }

    @Test func corruptionFlipsASeededByteOfACopyAndSkipsEmptyPayloads() throws {
        let plan = try FaultPlan.parse("corrupt:leaf0@op=2,chunk=1;seed=3")
        let fault = plan.frameFault(from: "leaf0", to: "spine0", job: "j", opSeq: 2, chunk: 1, payloadBytes: 1000)
        let corruption = try #require(fault.corruption)
        #expect(corruption.offset < 1000 && corruption.mask != 0)
        #expect(plan.frameFault(from: "leaf0", to: "spine0", job: "j", opSeq: 2, chunk: 1, payloadBytes: 1000) == fault)
        let payload = [UInt8](repeating: 0x5A, count: 1000)
        let corrupted = fault.corrupted(payload)
        #expect(payload.allSatisfy { $0 == 0x5A })
        #expect(zip(payload, corrupted).filter { $0 != $1 }.count == 1)
        #expect(plan.frameFault(from: "leaf0", to: "spine0", job: "j", opSeq: 2, chunk: 1, payloadBytes: 0).isNone)
        // Different seeds pick different bytes (over a few frames, at least one differs).
        let other = try FaultPlan.parse("corrupt:leaf0;seed=4")
        let mine = try FaultPlan.parse("corrupt:leaf0;seed=3")
        let differs = (0..<8).contains { k in
            other.frameFault(from: "leaf0", to: "spine0", job: "j", opSeq: 1, chunk: UInt32(k), payloadBytes: 1 << 16)
                != mine.frameFault(from: "leaf0", to: "spine0", job: "j", opSeq: 1, chunk: UInt32(k), payloadBytes: 1 << 16)
        }
        #expect(differs)
    }

    @Test func slowRanksDawdleBeforeTheirOperations() throws {
        let plan = try FaultPlan.parse("slow:rank=5@ms=20;slow:rank=5@ms=5,op=2")
        #expect(plan.operationDelay(rank: 5, job: "j", opSeq: 1) == .milliseconds(20))
        #expect(plan.operationDelay(rank: 5, job: "j", opSeq: 2) == .milliseconds(25))
        #expect(plan.operationDelay(rank: 4, job: "j", opSeq: 1) == nil)
    }

    @Test func whoHasSomethingToInject() throws {
        let plan = try FaultPlan.parse("kill:leaf0@op=3;drop:h2-leaf1@frames=0.5;slow:rank=6@ms=1")
        #expect(plan.concerns(node: "leaf0"))
        #expect(plan.concerns(node: "leaf1"))
        #expect(!plan.concerns(node: "spine0"))
        #expect(plan.concerns(rank: 2, host: "h2"))
        #expect(plan.concerns(rank: 6, host: "h6"))
        #expect(!plan.concerns(rank: 3, host: "h3"))
        // A host named like the start of another is not confused with it.
        #expect(!plan.concerns(node: "h"))
    }

    @Test func killsAndHangsFireOnceAtTheirContribution() throws {
        final class Record: @unchecked Sendable {
            let lock = NSLock()
            var fired: [(ProcessFault, String)] = []
        }
        let record = Record()
        let injector = FaultInjector(plan: try FaultPlan.parse("kill:leaf0@op=3;hang:leaf0@op=4,chunk=2,job=b")) {
            fault, what in record.lock.withLock { record.fired.append((fault, what)) }
        }
        for op in 1...5 as ClosedRange<UInt64> {
            for chunk in 0..<4 as Range<UInt32> {
                for _ in 0..<4 { // every child contributes to the chunk
                    injector.contributionArrived(at: "leaf0", job: "b", opSeq: op, chunk: chunk)
                    injector.contributionArrived(at: "leaf1", job: "b", opSeq: op, chunk: chunk)
                }
            }
        }
        injector.contributionArrived(at: "leaf0", job: "a", opSeq: 4, chunk: 2)
        #expect(record.fired.map(\.0) == [.kill, .hang])
        #expect(record.fired.map(\.1) == ["kill leaf0 at op 3 (job b op 3 chunk 0)",
                                          "hang leaf0 at op 4 chunk 2 of job b (job b op 4 chunk 2)"])
    }
}
