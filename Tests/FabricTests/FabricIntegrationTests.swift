import Foundation
@testable import Fabric
import Testing
import TributaryCore

/// Builds real fabrics (namespaces, veths, tc) under unique test prefixes. Serialized: fabrics
/// built concurrently would compete for the two cores and skew the throughput check. Every test
/// removes its namespaces in a `defer`, so a failing expectation leaves nothing behind.
@Suite(.serialized, .enabled(if: FabricTestEnvironment.canBuildFabrics, FabricTestEnvironment.skipReason))
struct FabricIntegrationTests {
    @Test func defaultFabricComesUpRoutesThroughTheSpineAndGoesDown() throws {
        let plan = try FabricPlan(topology: loadConfig("default.yaml"), name: FabricTestEnvironment.uniqueName("def"))
        let controller = FabricController(plan: plan) { print("[fabric] \($0)") }
        defer { try? FabricController.down(prefix: plan.prefix) }

        let start = Date()
        try controller.up()
        let upTime = Date().timeIntervalSince(start)
        print(String(format: "[fabric] default fabric up in %.2f s", upTime))
        #expect(upTime < 10, "the default fabric should come up in a few seconds")

        let status = try controller.status()
        print(status.render())
        let complete = status.complete
        #expect(complete, "\(status.problems)")
        #expect(status.namespaces.allSatisfy { $0.exists })
        #expect(status.management.exists && status.management.bridgeUp && status.management.ports == 11)
        #expect(status.links.count == 10 && status.links.allSatisfy { $0.ok })
        #expect(status.links.allSatisfy { $0.a.qdiscs.contains("tbf") && $0.b.qdiscs.contains("tbf") })
        #expect(status.namespaces.filter { $0.kind == "switch" }.allSatisfy { $0.forwarding == true })
        if !FabricController.netemAvailable() {
            #expect(status.links.allSatisfy { $0.shaping.delay == .dataPath })
            #expect(status.render().contains("tributary-data-path"))
        }

        // h0 → h7 crosses leaf0 → spine0 → leaf1: count spine0's packets towards leaf1.
        let h7 = try #require(plan.node("h7"))
        let spineToLeaf1 = try #require(plan.links.first { $0.a.node == "leaf1" && $0.b.node == "spine0" })
        let before = try txPackets(plan, node: "spine0", interface: spineToLeaf1.b.interface)
        #expect(try echo(controller, from: "h0", to: h7.dataAddress), "h0 reaches h7's data address")
        let after = try txPackets(plan, node: "spine0", interface: spineToLeaf1.b.interface)
        #expect(after > before, "the echo went through spine0")
        // Switches' own addresses answer too, and the management network reaches the coordinator.
        #expect(try echo(controller, from: "h4", to: try #require(plan.node("leaf0")).dataAddress))
        #expect(try echo(controller, from: "h2", to: plan.managementAddress))
        #expect(try echo(controller, from: plan.managementNamespace, to: h7.managementAddress))

        let downStart = Date()
        try controller.down()
        print(String(format: "[fabric] default fabric down in %.2f s", Date().timeIntervalSince(downStart)))
        #expect(try FabricController.namespaces(withPrefix: plan.prefix).isEmpty)
        let gone = try controller.status()
        let (goneAbsent, goneComplete) = (gone.absent, gone.complete)
        #expect(goneAbsent && !goneComplete)
    }

    @Test func multiSiteFabricCrossesTheLongHaul() throws {
        let plan = try FabricPlan(topology: loadConfig("multi-site.yaml"), name: FabricTestEnvironment.uniqueName("ms"))
        let controller = FabricController(plan: plan)
        defer { try? FabricController.down(prefix: plan.prefix) }
        try controller.up()
        let status = try controller.status()
        let complete = status.complete
        #expect(complete, "\(status.problems)")
        let longHaul = try #require(status.links.first { $0.latency == 0.010 })
        let netem = FabricController.netemAvailable()
        #expect(longHaul.shaping == LinkShaping(rate: .tbf, delay: netem ? .netem : .dataPath,
                                                jitter: netem ? .netem : .dataPath, loss: .none))
        #expect(longHaul.a.qdiscs == (netem ? ["netem", "tbf"] : ["tbf"]))
        #expect(try echo(controller, from: "dc1-h0", to: try #require(plan.node("dc2-h3")).dataAddress))
        #expect(try echo(controller, from: "dc2-h1", to: plan.managementAddress))
        // IPv6 stays off the shaped links (no solicitations competing with data), but lo keeps ::1.
        let h0 = try #require(plan.node("dc1-h0")).namespace
        let v6 = try CommandRunner.check(["ip", "-n", h0, "-6", "-o", "address", "show"])
        #expect(v6.contains("::1") && !v6.contains(" e"), "\(v6)")
        try controller.down()
        #expect(try FabricController.namespaces(withPrefix: plan.prefix).isEmpty)
    }

    @Test func downWhenNothingExistsSucceeds() throws {
        let plan = try FabricPlan(topology: loadConfig("default.yaml"), name: FabricTestEnvironment.uniqueName("none"))
        try FabricController(plan: plan).down()
        try FabricController.down(prefix: plan.prefix)
        #expect(try FabricController.namespaces(withPrefix: plan.prefix).isEmpty)
    }

    @Test func upAfterACrashHalfWayStartsCleanAndDownLeavesNothing() throws {
        let plan = try FabricPlan(topology: loadConfig("default.yaml"), name: FabricTestEnvironment.uniqueName("crash"))
        let controller = FabricController(plan: plan)
        defer { try? FabricController.down(prefix: plan.prefix) }
        // What a crashed `up` leaves: some namespaces, one of them not even in the plan.
        try CommandRunner.check(["ip", "netns", "add", plan.prefix + "h0"])
        try CommandRunner.check(["ip", "netns", "add", plan.prefix + "stray"])
        let crashed = try controller.status()
        let (crashedComplete, crashedAbsent) = (crashed.complete, crashed.absent)
        #expect(!crashedComplete && !crashedAbsent)
        #expect(crashed.strayNamespaces == [plan.prefix + "stray"])

        try controller.up()
        let status = try controller.status()
        let complete = status.complete
        #expect(complete, "\(status.problems)")
        try controller.down()
        #expect(try FabricController.namespaces(withPrefix: plan.prefix).isEmpty)

        // A crash with nothing to rebuild: `down` alone cleans up too.
        try CommandRunner.check(["ip", "netns", "add", plan.prefix + "leaf1"])
        try controller.down()
        #expect(try FabricController.namespaces(withPrefix: plan.prefix).isEmpty)
    }

    @Test func upThatFailsHalfWayRemovesWhatItMade() throws {
        var plan = try FabricPlan(topology: loadConfig("default.yaml"), name: FabricTestEnvironment.uniqueName("fail"))
        defer { try? FabricController.down(prefix: plan.prefix) }
        // A next hop on no connected network: the kernel refuses the route, after namespaces, veths
        // and addresses exist.
        plan.routes["h5", default: []].append(Route(destination: "10.76.200.1/32", via: "10.99.0.1", interface: "e7a"))
        let controller = FabricController(plan: plan)
        do {
            try controller.up()
            Issue.record("up should have failed")
        } catch let error as FabricError {
            guard case .commandFailed(let command, let status, _, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(command.contains(plan.node("h5")!.namespace))
            #expect(status != 0)
            #expect(error.description.contains("10.99.0.1"), "\(error)")
        }
        #expect(try FabricController.namespaces(withPrefix: plan.prefix).isEmpty)
    }

    @Test(.enabled(if: FabricTestEnvironment.python != nil, "needs python3 for the TCP transfer"))
    func shapingLimitsThroughput() throws {
        let rate = 200e6
        let topology = Topology(
            name: "tput", switches: [.init(name: "s0", tier: "leaf", aggregation: .standard)],
            hosts: [.init(name: "a"), .init(name: "b")],
            links: [.init(a: "a", b: "s0", rate: rate, latency: 2e-6), .init(a: "b", b: "s0", rate: rate, latency: 2e-6)])
        let plan = try FabricPlan(topology: topology, name: FabricTestEnvironment.uniqueName("tput"))
        let controller = FabricController(plan: plan)
        defer { try? FabricController.down(prefix: plan.prefix) }
        try controller.up()
        let python = try #require(FabricTestEnvironment.python)
        let address = try #require(plan.node("b")).dataAddress

        let receiver = try Child(controller.exec(in: "b", [python, "-c", pythonReceiver, address, "5201"]))
        let sender = try Child(controller.exec(in: "a", [python, "-c", pythonSender, address, "5201", "3"]))
        let sent = sender.finish(timeout: 20)
        let received = receiver.finish(timeout: 10)
        #expect(sent.status == 0, "sender: \(sent.stderr)")
        #expect(received.status == 0, "receiver: \(received.stderr)")
        let measured = try #require(Double(received.stdout.trimmingCharacters(in: .whitespacesAndNewlines)),
                                    "receiver printed \(received.stdout)")
        print(String(format: "[fabric] shaped TCP goodput %.1f Mbit/s over links shaped to %.0f Mbit/s (%.0f %%)",
                     measured / 1e6, rate / 1e6, measured / rate * 100))
        #expect(measured > 0.5 * rate && measured < 1.2 * rate)
    }

    // MARK: - Helpers

    /// One ICMP echo from `from` (node name or namespace) to `address`: `ping -c1 -W1` when installed,
    /// else the same from python.
    private func echo(_ controller: FabricController, from: String, to address: String) throws -> Bool {
        let command: [String]
        if let ping = FabricTestEnvironment.ping {
            command = [ping, "-c1", "-W1", address]
        } else {
            let python = try #require(FabricTestEnvironment.python, "needs ping or python3")
            command = [python, "-c", pythonICMPEcho, address]
        }
        return try CommandRunner.run(controller.exec(in: from, command)).status == 0
    }

    private func txPackets(_ plan: FabricPlan, node: String, interface: String) throws -> Int {
        let namespace = try #require(plan.node(node)).namespace
        let text = try CommandRunner.check(["ip", "-n", namespace, "-j", "-s", "link", "show", "dev", interface])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        let stats = try #require(entries.first?["stats64"] as? [String: Any])
        let tx = try #require(stats["tx"] as? [String: Any])
        return try #require(tx["packets"] as? Int)
    }
}
