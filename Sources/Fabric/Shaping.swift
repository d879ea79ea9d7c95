import Foundation

/// How a link's properties become qdiscs, given what the kernel offers.
///
/// - Rate: `tbf` at the root of each veth end's egress, so each direction of the link is limited
///   separately, as on a full-duplex wire. The bucket (`burst`) holds at least 2 ms at the rate
///   (and never less than 64 KiB): a smaller bucket cannot be refilled often enough between timer
///   wake-ups and throughput falls short of the rate (measured: 1 ms reached 88 % of 10 Gbit/s,
///   2 ms 92 %, close to the 95.6 % TCP payload share of a full-size frame); at low rates 64 KiB
///   still lets one full GSO segment through without being split.
/// - Queue: `limit` is the bucket plus `max(5 ms, 2 × (latency + jitter))` of traffic at the rate:
///   about one bandwidth-delay product of the link itself, enough for TCP to keep the link busy
///   without the hundreds of milliseconds of bufferbloat a default-sized queue would add.
/// - Delay, jitter, loss: `netem` at the root with the `tbf` as its child (`parent 1:1`), the
///   arrangement `tc-netem(8)` documents for rate plus delay: packets are delayed first, then leave
///   at the link rate. netem's own queue holds the packets in flight during the delay (its default
///   of 1000 packets would drop at high rate × delay). netem draws jitter uniformly in ±jitter and
///   may reorder packets, as netem does. Without netem (some kernels, e.g. Firecracker's) these
///   properties go to `.dataPath`: Tributary's transport delays frames itself.
public enum Shaping {
    /// MTU of the data links: jumbo, so packets per second (not bytes) stop bounding the CPU.
    public static let mtu = 65000
    /// Smallest token bucket, bytes: two full jumbo packets, so a packet never exceeds the bucket.
    public static let minimumBurst = 2 * 65536
    /// Seconds of traffic at the link rate the token bucket holds (when above `minimumBurst`).
    public static let burstTime = 0.002
    /// Smallest standing queue, in seconds at the link rate (with jumbo packets a few must fit).
    public static let minimumQueueTime = 0.02

    /// The mechanism that enforces each property of `link`.
    public static func shaping(for link: FabricPlan.PlannedLink, netem: Bool) -> LinkShaping {
        func emulated(_ value: Double) -> LinkShaping.Mechanism {
            value > 0 ? (netem ? .netem : .dataPath) : .none
        }
        return LinkShaping(rate: link.rate > 0 && link.rate.isFinite ? .tbf : .none,
                           delay: emulated(link.latency), jitter: emulated(link.jitter), loss: emulated(link.loss))
    }

    /// `tc` argv arrays (starting with `tc`, without namespace selection: run them as
    /// `tc -n <namespace> …`, or drop the leading `tc` for a `tc -n <namespace> -batch` file) that
    /// shape the egress of `end`, one end of `link`. Empty when nothing needs the kernel.
    public static func tcCommands(for end: FabricPlan.LinkEnd, link: FabricPlan.PlannedLink,
                                  netem: Bool) -> [[String]] {
        let shaping = shaping(for: link, netem: netem)
        let dev = end.interface
        var commands: [[String]] = []
        let useNetem = [shaping.delay, shaping.jitter, shaping.loss].contains(.netem)
        if useNetem {
            var args = ["tc", "qdisc", "replace", "dev", dev, "root", "handle", "1:", "netem",
                        "limit", String(netemLimit(for: link))]
            if link.latency > 0 || link.jitter > 0 {
                args += ["delay", microseconds(link.latency)]
                if link.jitter > 0 { args.append(microseconds(link.jitter)) }
            }
            if link.loss > 0 { args += ["loss", percent(link.loss)] }
            commands.append(args)
        }
        if shaping.rate == .tbf {
            let parent = useNetem ? ["parent", "1:1", "handle", "10:"] : ["root", "handle", "1:"]
            commands.append(["tc", "qdisc", "replace", "dev", dev] + parent
                + ["tbf", "rate", "\(UInt64(link.rate.rounded()))bit",
                   "burst", String(burst(for: link)), "limit", String(queueLimit(for: link))])
        }
        return commands
    }

    /// Token bucket size in bytes.
    public static func burst(for link: FabricPlan.PlannedLink) -> Int {
        max(minimumBurst, Int((link.rate / 8 * burstTime).rounded(.up)))
    }

    /// tbf queue limit in bytes: the bucket plus the standing queue.
    public static func queueLimit(for link: FabricPlan.PlannedLink) -> Int {
        let seconds = max(minimumQueueTime, 2 * (link.latency + link.jitter))
        return burst(for: link) + Int((link.rate / 8 * seconds).rounded(.up))
    }

    /// netem queue limit in packets: everything in flight during the longest delay at the link rate,
    /// counted in full-size frames, with 50 % headroom (and netem's default 1000 as the floor).
    public static func netemLimit(for link: FabricPlan.PlannedLink) -> Int {
        let seconds = link.latency + 2 * link.jitter + minimumQueueTime
        let packets = link.rate / 8 * seconds / 1500 * 1.5
        guard packets.isFinite else { return 1000 }
        return max(1000, Int(packets.rounded(.up)))
    }

    /// `tc` time in microseconds (tc accepts fractions: `2us`, `0.5us`).
    static func microseconds(_ seconds: Double) -> String {
        let us = seconds * 1e6
        if us == us.rounded() { return "\(Int(us))us" }
        return String(format: "%.3fus", us)
    }

    /// `tc` loss percentage, precise enough for small fractions (0.001 → `0.1%`).
    static func percent(_ fraction: Double) -> String {
        var text = String(format: "%.6f", fraction * 100)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text + "%"
    }
}
