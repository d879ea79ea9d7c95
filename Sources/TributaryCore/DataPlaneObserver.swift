/// Something that happened on the data plane, as metrics and traces want to hear of it. The
/// aggregator and the worker emit these; they know nothing of who listens (Prometheus counters, a
/// trace file, both or nobody).
public enum DataPlaneEvent: Sendable {
    /// Which way a chunk travels on a tree link.
    public enum Direction: String, Sendable, Codable {
        /// Towards the root (contributions).
        case up
        /// Away from the root (results).
        case down
    }

    /// An aggregator received child `from`'s contribution to a chunk.
    case chunkArrived(job: UInt32, opSeq: UInt64, chunk: UInt32, from: String, bytes: Int)
    /// An aggregator folded every child's contribution to a chunk: `waited` is how long the slot
    /// stayed open (first contribution to the last fold), in nanoseconds.
    case chunkFolded(job: UInt32, opSeq: UInt64, chunk: UInt32, contributions: Int, waited: UInt64)
    /// A chunk left for `to` (an aggregator's parent or child, or a worker's leaf).
    case chunkSent(job: UInt32, opSeq: UInt64, chunk: UInt32, to: String, direction: Direction, bytes: Int)
    /// A result chunk arrived from `from` (an aggregator's parent, or a worker's leaf).
    case resultArrived(job: UInt32, opSeq: UInt64, chunk: UInt32, from: String, bytes: Int)
    /// A rank began a collective.
    case operationStarted(job: UInt32, rank: Int, opSeq: UInt64, collective: Collective, dtype: DType, count: Int,
                          algorithm: Algorithm)
    /// A rank's collective ended: `failure` says why when it did not complete.
    case operationEnded(job: UInt32, rank: Int, opSeq: UInt64, collective: Collective, algorithm: Algorithm,
                        seconds: Double, bytesSent: Int, bytesReceived: Int, failure: String?)
    /// The coordinator installed (or removed, `ended`) a job at this aggregator: per-job series start
    /// and end with it, so a long-running fabric does not keep one per job it ever served.
    case jobInstalled(job: UInt32, name: String, slots: Int, slotBytes: Int)
    case jobEnded(job: UInt32)
    /// An aggregator's slots for a job in use now (after a slot was taken or given back).
    case slotsInUse(job: UInt32, slots: Int, slotBytes: Int)
}

/// Hears data-plane events. Called on the data path, from whichever thread or task runs it:
/// implementations must be cheap and safe to call concurrently.
public protocol DataPlaneObserver: Sendable {
    func observe(_ event: DataPlaneEvent)
}

/// Several observers as one (metrics and a trace at once).
public struct DataPlaneObservers: DataPlaneObserver {
    public let observers: [any DataPlaneObserver]
    public init(_ observers: [any DataPlaneObserver]) { self.observers = observers }
    public func observe(_ event: DataPlaneEvent) {
        for observer in observers { observer.observe(event) }
    }

    /// nil for none, the observer itself for one, a composite otherwise.
    public static func combine(_ observers: [any DataPlaneObserver]) -> (any DataPlaneObserver)? {
        switch observers.count {
        case 0: return nil
        case 1: return observers[0]
        default: return DataPlaneObservers(observers)
        }
    }
}

/// The payload bytes one link carried each way: between a child node (`from`, a host or a switch)
/// and the node above it (`to`). Two nodes that are not neighbours in the topology (a tree edge
/// across a non-aggregating switch, two hosts on the ring) stand for the links of the path between them.
public struct LinkLoad: Sendable, Codable, Equatable, Hashable {
    public var from: String
    public var to: String
    /// Bytes `from` → `to`.
    public var bytesUp: Int
    /// Bytes `to` → `from`.
    public var bytesDown: Int

    public init(from: String, to: String, bytesUp: Int, bytesDown: Int) {
        self.from = from
        self.to = to
        self.bytesUp = bytesUp
        self.bytesDown = bytesDown
    }

    /// Loads of the same pair summed (either orientation), in first-seen order.
    public static func merged(_ loads: [LinkLoad]) -> [LinkLoad] {
        var order: [[String]] = []
        var sums: [[String]: LinkLoad] = [:]
        for load in loads {
            let forward = [load.from, load.to]
            let backward = [load.to, load.from]
            if var sum = sums[forward] {
                sum.bytesUp += load.bytesUp
                sum.bytesDown += load.bytesDown
                sums[forward] = sum
            } else if var sum = sums[backward] {
                sum.bytesUp += load.bytesDown
                sum.bytesDown += load.bytesUp
                sums[backward] = sum
            } else {
                order.append(forward)
                sums[forward] = load
            }
        }
        return order.map { sums[$0]! }
    }
}

extension AggregationTree {
    /// The root of the one-node stand-in tree of a job that runs on the host ring (fallback).
    public static let hostRingRoot = "host-ring"

    /// A job on the host ring: no switch aggregates, ranks pass data to their successors.
    public var isHostRing: Bool { root == Self.hostRingRoot }

    /// The payload each link of this tree carried for one operation, from what every rank measured
    /// it sent and received. In-network: a rank's host link carries what the rank sent and received;
    /// a switch's link to its parent carries one copy of the subtree's contribution up and of the
    /// result down, so the largest any rank below it sent and received (a broadcast subtree without
    /// the root sends empty chunks up; a reduce's other subtrees get empty results). On the host
    /// ring each rank's bytes go to its successor; a successor on the same host crosses no link.
    ///
    /// Linear in the tree's size: the coordinator calls this for every operation of every job.
    public func linkLoads(algorithm: Algorithm, bytesSent: [Int], bytesReceived: [Int]) -> [LinkLoad] {
        guard bytesSent.count == hosts.count, bytesReceived.count == hosts.count else { return [] }
        if algorithm == .ring || isHostRing {
            guard hosts.count > 1 else { return [] }
            return hosts.indices.compactMap { r in
                let next = hosts[(r + 1) % hosts.count]
                guard next != hosts[r] else { return nil }
                return LinkLoad(from: hosts[r], to: next, bytesUp: bytesSent[r], bytesDown: 0)
            }
        }
        let topDown = aggregatorsTopDown
        // Each rank's leaf, and the most any rank below each switch sent and received, bottom-up once.
        var leaf = [String?](repeating: nil, count: hosts.count)
        var most: [String: (sent: Int, received: Int)] = [:]
        for name in topDown.reversed() {
            var sent = 0, received = 0
            for child in nodes[name]?.children ?? [] {
                switch child {
                case .worker(let rank):
                    guard hosts.indices.contains(rank) else { continue }
                    if leaf[rank] == nil { leaf[rank] = name }
                    sent = max(sent, bytesSent[rank])
                    received = max(received, bytesReceived[rank])
                case .aggregator(let sub):
                    sent = max(sent, most[sub]?.sent ?? 0)
                    received = max(received, most[sub]?.received ?? 0)
                }
            }
            most[name] = (sent, received)
        }
        var loads: [LinkLoad] = []
        for rank in hosts.indices {
            guard let leaf = leaf[rank] else { continue }
            loads.append(LinkLoad(from: hosts[rank], to: leaf, bytesUp: bytesSent[rank],
                                  bytesDown: bytesReceived[rank]))
        }
        for name in topDown {
            guard let parent = nodes[name]?.parent, let below = most[name] else { continue }
            loads.append(LinkLoad(from: name, to: parent, bytesUp: below.sent, bytesDown: below.received))
        }
        return loads
    }

    /// The tree's edges as (child node, parent node) pairs: hosts to their leaves, switches to their parents.
    /// On the host ring: each host to its successor. Each pair once: several ranks on one host share
    /// their host's edge, and ring neighbours on the same host have none.
    public var edges: [[String]] {
        var seen = Set<[String]>()
        var out: [[String]] = []
        func add(_ child: String, _ parent: String) {
            guard child != parent, seen.insert([child, parent]).inserted else { return }
            out.append([child, parent])
        }
        if isHostRing {
            if hosts.count > 1 { for r in hosts.indices { add(hosts[r], hosts[(r + 1) % hosts.count]) } }
            return out
        }
        for name in aggregatorsTopDown {
            for child in nodes[name]?.children ?? [] {
                switch child {
                case .worker(let rank): if hosts.indices.contains(rank) { add(hosts[rank], name) }
                case .aggregator(let sub): add(sub, name)
                }
            }
        }
        return out
    }
}
