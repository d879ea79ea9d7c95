import Foundation
import Testing

/// `launch --fabric`: every process in its own namespace, links shaped. Needs root and `ip netns`.
let canUseNamespaces = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")

@Suite(.serialized, .enabled(if: canUseNamespaces, "needs root and `ip netns` to build the fabric"))
struct FabricLaunchTests {
    static func namespaces(prefix: String) -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        p.arguments = ["netns", "list"]
        let out = Pipe()
        p.standardOutput = out
        try? p.run()
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return text.split(separator: "\n").map { String($0.split(separator: " ").first ?? "") }
            .filter { $0.hasPrefix(prefix) }
    }

    /// Every shipped topology, in its own fabric; the large ones with a subset of their hosts
    /// (the tree and the fabric still cover every switch on the way).
    @Test(arguments: [("default", 8), ("leaf-spine-fabric", 8), ("multi-site-fabric", 8), ("multi-site", 8),
                      ("rail-optimized", 4), ("leaf-spine-large", 12), ("fat-tree", 12)])
    func validatedAllreduceInTheFabricLeavesNothingBehind(config: String, workers: Int) throws {
        defer { _ = try? LaunchTests.tributary(["fabric", "down", "--config", "Configs/\(config).yaml"]) }
        let before = Set(Self.namespaces(prefix: "trib-"))
        let run = try LaunchTests.tributary([
            "launch", "--fabric", "--config", "Configs/\(config).yaml", "--workers", "\(workers)",
            "--counts", "0,1,1000,65537,300000",
            "--collectives", "allreduce,broadcast", "--algos", "innetwork,ring", "--specials",
        ], timeout: 300)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.stdout.contains("validated against the host replay, 0 wrong"), "\(run.stdout)")
        #expect(run.stdout.contains("tributary launch: OK"))
        // Only namespaces this run made count (another fabric may be up on the machine).
        let leftovers = Set(Self.namespaces(prefix: "trib-")).subtracting(before)
        #expect(leftovers.isEmpty, "namespaces left behind: \(leftovers)")
    }

    /// `fabric exec` runs a command in the named node's namespace, tells it where it is, and returns
    /// its exit status; a node that is not in the topology is refused by name.
    @Test func fabricExecRunsInTheNodesNamespaceAndReturnsItsStatus() throws {
        let config = "Configs/two-leaves.yaml"
        defer { _ = try? LaunchTests.tributary(["fabric", "down", "--config", config]) }
        let up = try LaunchTests.tributary(["fabric", "up", "--config", config])
        #expect(up.status == 0, "\(up.output)")
        let inside = try LaunchTests.tributary([
            "fabric", "exec", "--config", config, "--host", "h1", "--", "/bin/sh", "-c",
            // The data address is this namespace's own, and the node is the one asked for.
            "test \"$TRIBUTARY_NODE\" = h1 && ip -4 -o addr show | grep -q \" $TRIBUTARY_DATA_ADDRESS/\" && exit 7",
        ])
        #expect(inside.status == 7, "\(inside.output)")
        let unknown = try LaunchTests.tributary(["fabric", "exec", "--config", config, "--host", "h9", "--", "true"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("h9 is not a host or switch"), "\(unknown.output)")
        // Under a launcher each rank goes to its own host; a preloaded library reaches the command only.
        let ranked = try LaunchTests.tributary([
            "fabric", "exec", "--config", config, "--host-of-rank", "--preload", "/nonexistent/libx.so", "--",
            "/bin/sh", "-c", "test \"$TRIBUTARY_NODE\" = h3 && test \"$LD_PRELOAD\" = /nonexistent/libx.so && exit 9",
        ], environment: ["OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4"])
        #expect(ranked.status == 9, "\(ranked.output)")
        let noRank = try LaunchTests.tributary(["fabric", "exec", "--config", config, "--host-of-rank", "--", "true"])
        #expect(noRank.status != 0 && noRank.stderr.contains("--host-of-rank"), "\(noRank.output)")
        // The hostfile lists the hosts in rank order with the addresses the namespaces really have.
        let hostfile = try LaunchTests.tributary(["fabric", "hostfile", "--config", config])
        #expect(hostfile.status == 0, "\(hostfile.output)")
        let lines = hostfile.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: " ") }
        #expect(lines.map { String($0[0]) } == ["h0", "h1", "h2", "h3"], "\(hostfile.stdout)")
        #expect(hostfile.stdout.contains("btl_tcp_if_include 10.76.0.0/16"))
        if let h2 = lines.first(where: { $0[0] == "h2" }) {
            let check = try LaunchTests.tributary(["fabric", "exec", "--config", config, "--host", "h2", "--",
                                                   "/bin/sh", "-c", "ip -4 -o addr show | grep -q \" \(h2[2])/\""])
            #expect(check.status == 0, "h2's data address \(h2[2]) is not in its namespace: \(check.output)")
        }
    }

    @Test func fabricUpStatusDownIsIdempotent() throws {
        let config = "Configs/leaf-spine-fabric.yaml"
        defer { _ = try? LaunchTests.tributary(["fabric", "down", "--config", config]) }
        let down0 = try LaunchTests.tributary(["fabric", "down", "--config", config])
        #expect(down0.status == 0, "down with nothing up: \(down0.output)")
        let up = try LaunchTests.tributary(["fabric", "up", "--config", config])
        #expect(up.status == 0, "\(up.output)")
        #expect(!Self.namespaces(prefix: "trib-leaf_spine_fabric-").isEmpty)
        let status = try LaunchTests.tributary(["fabric", "status", "--config", config])
        #expect(status.status == 0)
        #expect(status.stdout.contains("tbf") || status.stdout.contains("htb"), "\(status.stdout)")
        let down = try LaunchTests.tributary(["fabric", "down", "--config", config])
        #expect(down.status == 0)
        #expect(Self.namespaces(prefix: "trib-leaf_spine_fabric-").isEmpty)
        let again = try LaunchTests.tributary(["fabric", "down", "--config", config])
        #expect(again.status == 0)
    }
}
