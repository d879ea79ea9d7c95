@testable import Fabric
import Testing
import TributaryCore

@Suite struct ShapingTests {
    @Test func withoutNetemDelayJitterAndLossGoToTheDataPath() throws {
        let plan = try FabricPlan(topology: loadConfig("multi-site.yaml"))
        let longHaul = try #require(plan.links.first { $0.latency == 0.010 })
        let shaping = Shaping.shaping(for: longHaul, netem: false)
        #expect(shaping == LinkShaping(rate: .tbf, delay: .dataPath, jitter: .dataPath, loss: .none))
        #expect(shaping.needsDataPath)
        let local = try #require(plan.links.first { $0.latency == 2e-6 })
        #expect(Shaping.shaping(for: local, netem: false)
            == LinkShaping(rate: .tbf, delay: .dataPath, jitter: .none, loss: .none))
        #expect(LinkShaping.Mechanism.dataPath.rawValue == "tributary-data-path")
    }

    @Test func withNetemTheKernelEnforcesEverything() throws {
        let link = Self.link(rate: 1e9, latency: 0.010, jitter: 0.001, loss: 0.001)
        #expect(Shaping.shaping(for: link, netem: true)
            == LinkShaping(rate: .tbf, delay: .netem, jitter: .netem, loss: .netem))
        #expect(!Shaping.shaping(for: link, netem: true).needsDataPath)
    }

    @Test func withoutNetemOnlyATokenBucketIsInstalled() {
        let link = Self.link(rate: 200e6, latency: 2e-6, jitter: 0, loss: 0)
        let commands = Shaping.tcCommands(for: link.a, link: link, netem: false)
        #expect(commands == [["tc", "qdisc", "replace", "dev", "e0a", "root", "handle", "1:", "tbf",
                              "rate", "200000000bit", "burst", "131072", "limit", "631072"]])
    }

    @Test func withNetemTheTokenBucketIsNetemsChild() {
        let link = Self.link(rate: 1e9, latency: 0.010, jitter: 0.001, loss: 0.001)
        let commands = Shaping.tcCommands(for: link.b, link: link, netem: true)
        #expect(commands.count == 2)
        #expect(commands[0] == ["tc", "qdisc", "replace", "dev", "e0b", "root", "handle", "1:", "netem",
                                "limit", "\(Shaping.netemLimit(for: link))", "delay", "10000us", "1000us",
                                "loss", "0.1%"])
        #expect(Array(commands[1].prefix(9)) == ["tc", "qdisc", "replace", "dev", "e0b", "parent", "1:1", "handle", "10:"])
        #expect(commands[1].contains("tbf"))
        // In flight during 10 ms (+ jitter) at 1 Gbit/s is ~1000 full frames: netem's queue must hold more.
        #expect(Shaping.netemLimit(for: link) > 1_300)
    }

    @Test func bucketAndQueueScaleWithRateAndDelay() {
        let fast = Self.link(rate: 10e9, latency: 2e-6, jitter: 0, loss: 0)
        #expect(Shaping.burst(for: fast) == 2_500_000)  // 2 ms at 10 Gbit/s
        #expect(Shaping.queueLimit(for: fast) == 2_500_000 + 25_000_000)  // + 20 ms
        let slow = Self.link(rate: 1e6, latency: 0, jitter: 0, loss: 0)
        #expect(Shaping.burst(for: slow) == 131_072)  // never below two jumbo packets
        let far = Self.link(rate: 1e9, latency: 0.010, jitter: 0.001, loss: 0)
        #expect(Shaping.queueLimit(for: far) == Shaping.burst(for: far) + 2_750_000)  // 22 ms at 1 Gbit/s
    }

    @Test func tcUnits() {
        #expect(Shaping.microseconds(2e-6) == "2us")
        #expect(Shaping.microseconds(0.0105) == "10500us")
        #expect(Shaping.microseconds(5e-7) == "0.500us")
        #expect(Shaping.percent(0.001) == "0.1%")
        #expect(Shaping.percent(0.5) == "50%")
        #expect(Shaping.percent(1e-6) == "0.0001%")
    }

    static func link(rate: Double, latency: Double, jitter: Double, loss: Double) -> FabricPlan.PlannedLink {
        FabricPlan.PlannedLink(index: 0, a: .init(node: "x", interface: "e0a", address: "10.77.0.1/30"),
                               b: .init(node: "y", interface: "e0b", address: "10.77.0.2/30"),
                               rate: rate, latency: latency, jitter: jitter, loss: loss)
    }
}
