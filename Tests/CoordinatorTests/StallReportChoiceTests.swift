@testable import Coordinator
import Testing
import TributaryCore

/// Of the stall reports one stall produces, the coordinator keeps the one that names the rank
/// actually missing — not the first to arrive, which is often a leaf that only knows its parent's
/// result is late.
@Suite struct StallReportChoiceTests {
    func report(_ ranks: [Int], _ who: String) -> ErrorReport {
        ErrorReport(kind: .timeout, job: 1, opSeq: 3, ranks: ranks, reporter: who, message: "waited")
    }

    @Test func aReportNamingRanksBeatsOneNamingNone() {
        let parentLate = report([], "aggregator leaf1")
        let slot = report([2], "aggregator leaf0")
        #expect(Coordinator.isMoreSpecific(parentLate, than: nil))
        #expect(Coordinator.isMoreSpecific(slot, than: parentLate))
        #expect(!Coordinator.isMoreSpecific(parentLate, than: slot))
    }

    @Test func fewerRanksBeatMore() {
        let spine = report([0, 1, 2, 3], "aggregator spine0")
        let leaf = report([2], "aggregator leaf0")
        #expect(Coordinator.isMoreSpecific(leaf, than: spine))
        #expect(!Coordinator.isMoreSpecific(spine, than: leaf))
        #expect(!Coordinator.isMoreSpecific(report([3], "aggregator leaf0"), than: leaf))
    }
}
