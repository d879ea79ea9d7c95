import Testing
import TributaryCore
@testable import TransportRDMA

/// The credit rule, on any host: unit cases, then a seeded simulation of two connection ends with
/// finite send buffers that stage greedily (as `RDMAConnection.pump` does), in-order delivery,
/// acknowledgements and receive reposts interleaved at random. Every run must deliver everything
/// without a piece ever meeting an empty receive queue; a state where work remains and nothing
/// can happen is a deadlock and fails with the state named.
@Suite struct CreditWindowTests {
    @Test func dataPiecesKeepTheLastCreditUnlessTheyReturnCredits() {
        var window = CreditWindow(peerReceives: 3, ownReceives: 4)
        #expect(window.threshold == 2)
        // Nothing owed: two of three credits go to data, the last waits.
        #expect(window.plan(staged: 5, freeBuffers: 0) == .init(dataPieces: 2, creditOnly: false))
        _ = window.take()
        _ = window.take()
        #expect(window.credits == 1)
        window.reposted()
        #expect(window.plan(staged: 5, freeBuffers: 1) == .init(dataPieces: 0, creditOnly: false))
        // Owing the threshold: the last credit may carry a data piece that returns them...
        window.reposted()
        #expect(window.plan(staged: 5, freeBuffers: 0) == .init(dataPieces: 1, creditOnly: false))
        // ...or, with nothing staged, a credit-only piece.
        #expect(window.plan(staged: 0, freeBuffers: 1) == .init(dataPieces: 0, creditOnly: true))
        #expect(window.plan(staged: 0, freeBuffers: 0) == .init(dataPieces: 0, creditOnly: false))
        #expect(window.take() == 2)
        #expect(window.credits == 0 && window.owed == 0)
        #expect(window.plan(staged: 5, freeBuffers: 5) == .init(dataPieces: 0, creditOnly: false))
        window.returned(4)
        #expect(window.credits == 4)
    }

    @Test func aFailedPostGivesBackItsCreditAndWhatItOwed() {
        var window = CreditWindow(peerReceives: 2, ownReceives: 2)
        window.reposted()
        let before = window
        let returned = window.take()
        window.untake(returned: returned)
        #expect(window == before)
    }

    @Test func twoReceivesReturnEachOneAtOnce() {
        // Two receives: threshold 1, so every reposted receive is worth returning.
        var window = CreditWindow(peerReceives: 2, ownReceives: 2)
        #expect(window.threshold == 1)
        #expect(window.plan(staged: 3, freeBuffers: 0).dataPieces == 1)
        _ = window.take()
        #expect(window.plan(staged: 2, freeBuffers: 0).dataPieces == 0)
        window.reposted()
        #expect(window.plan(staged: 2, freeBuffers: 0).dataPieces == 1)
    }

    /// The shapes that matter: few receives (2 is the least a handshake accepts: with one, a data
    /// piece would always need the last credit), fewer send buffers than receives (every buffer
    /// staged while credits are short — the deadlock CI found), one send buffer, lopsided ends.
    static let shapes: [(Simulation.End, Simulation.End)] = [
        (.init(receives: 4, sendBuffers: 3), .init(receives: 4, sendBuffers: 3)),
        (.init(receives: 2, sendBuffers: 2), .init(receives: 2, sendBuffers: 2)),
        (.init(receives: 2, sendBuffers: 1), .init(receives: 2, sendBuffers: 1)),
        (.init(receives: 3, sendBuffers: 2), .init(receives: 5, sendBuffers: 1)),
        (.init(receives: 8, sendBuffers: 2), .init(receives: 2, sendBuffers: 8)),
        (.init(receives: 32, sendBuffers: 32), .init(receives: 32, sendBuffers: 32)),
        (.init(receives: 6, sendBuffers: 9), .init(receives: 2, sendBuffers: 4)),
    ]

    @Test(arguments: shapes.indices)
    func twoEndsSendingAtRandomNeverDeadlockNorOverrunReceives(shape: Int) throws {
        let (a, b) = Self.shapes[shape]
        for seed in 0..<200 as Range<UInt64> {
            var simulation = Simulation(a, b, pieces: (300, 120), seed: seed)
            try simulation.run()
        }
    }

    @Test func oneWayTrafficReturnsCreditsWithoutDataGoingBack() throws {
        for seed in 0..<200 as Range<UInt64> {
            var simulation = Simulation(.init(receives: 4, sendBuffers: 3), .init(receives: 4, sendBuffers: 3),
                                        pieces: (400, 0), seed: seed)
            try simulation.run()
        }
    }
}

/// Two ends of one reliable connection, reduced to counts: pieces wanted, send buffers free,
/// staged and posted, receives posted, and the credit window. `run()` picks one enabled event at a
/// time (an application send, a delivery, a receive processed, a send acknowledged) with a seeded
/// generator until everything is delivered.
struct Simulation {
    struct End {
        var receives: Int
        var sendBuffers: Int
    }

    struct Deadlock: Error, CustomStringConvertible {
        var description: String
    }

    private struct Side {
        let shape: End
        var window: CreditWindow
        var toSend: Int
        var wanted = 0
        var free: Int
        var staged = 0
        var postedReceives: Int
        /// Delivered pieces whose completions this side has not processed yet (credits they return).
        var completions: [Int] = []
        /// Pieces acknowledged by the peer; each frees a send buffer when processed.
        var acks = 0
        var dataReceived = 0
    }

    private var sides: [Side]
    /// In flight from side i to the other, in order: (credits returned, carries data).
    private var wires: [[(returned: Int, data: Bool)]] = [[], []]
    private var rng: SplitMix64
    private let seed: UInt64
    private var steps = 0

    init(_ a: End, _ b: End, pieces: (Int, Int), seed: UInt64) {
        func side(_ shape: End, peer: End, pieces: Int) -> Side {
            Side(shape: shape, window: CreditWindow(peerReceives: peer.receives, ownReceives: shape.receives),
                 toSend: pieces, free: shape.sendBuffers, postedReceives: shape.receives)
        }
        sides = [side(a, peer: b, pieces: pieces.0), side(b, peer: a, pieces: pieces.1)]
        rng = SplitMix64(seed: seed &* 0x9E37_79B9 &+ 1)
        self.seed = seed
        self.pieces = [pieces.0, pieces.1]
    }

    private let pieces: [Int]

    private var done: Bool {
        (0..<2).allSatisfy { sides[1 - $0].dataReceived == pieces[$0] }
    }

    mutating func run() throws {
        while !done {
            var events: [(side: Int, kind: Int)] = []
            for i in 0..<2 {
                if sides[i].toSend > 0 { events.append((i, 0)) }
                if !wires[i].isEmpty { events.append((i, 1)) }
                if !sides[i].completions.isEmpty { events.append((i, 2)) }
                if sides[i].acks > 0 { events.append((i, 3)) }
            }
            guard let event = events.randomElement(using: &rng) else {
                throw Deadlock(description: "deadlock after \(steps) steps (seed \(seed)): \(state)")
            }
            steps += 1
            let i = event.side
            switch event.kind {
            case 0:  // the application queues a few pieces
                let n = min(sides[i].toSend, Int.random(in: 1...4, using: &rng))
                sides[i].toSend -= n
                sides[i].wanted += n
                pump(i)
            case 1:  // the oldest piece on the wire lands in a receive the other side posted
                let piece = wires[i].removeFirst()
                let peer = 1 - i
                guard sides[peer].postedReceives > 0 else {
                    throw Deadlock(description: "a piece met an empty receive queue (RNR) after \(steps) steps "
                                   + "(seed \(seed)): \(state)")
                }
                sides[peer].postedReceives -= 1
                sides[peer].completions.append(piece.returned)
                if piece.data { sides[peer].dataReceived += 1 }
                sides[i].acks += 1
            case 2:  // the receiver handles the completion: credits back, receive reposted
                let returned = sides[i].completions.removeFirst()
                sides[i].window.returned(returned)
                sides[i].postedReceives += 1
                sides[i].window.reposted()
                pump(i)
            default:  // a send completed: its buffer is free
                sides[i].acks -= 1
                sides[i].free += 1
                pump(i)
            }
        }
    }

    /// `RDMAConnection.pump`: stage what is wanted into free buffers, then post what the plan allows.
    private mutating func pump(_ i: Int) {
        let stage = min(sides[i].wanted, sides[i].free)
        sides[i].wanted -= stage
        sides[i].free -= stage
        sides[i].staged += stage
        let plan = sides[i].window.plan(staged: sides[i].staged, freeBuffers: sides[i].free)
        for _ in 0..<plan.dataPieces {
            sides[i].staged -= 1
            wires[i].append((sides[i].window.take(), true))
        }
        if plan.creditOnly {
            sides[i].free -= 1
            wires[i].append((sides[i].window.take(), false))
        }
    }

    private var state: String {
        (0..<2).map { i in
            let s = sides[i]
            return "end \(i) (\(s.shape.receives) receives, \(s.shape.sendBuffers) send buffers): credits \(s.window.credits), "
                + "owed \(s.window.owed), wanted \(s.wanted), staged \(s.staged), free \(s.free), "
                + "posted receives \(s.postedReceives), received \(s.dataReceived)"
        }.joined(separator: "; ")
    }
}
