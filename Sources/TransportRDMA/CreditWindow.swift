/// Receive credits of one RDMA connection: what may be posted now, and what is owed to the peer.
///
/// Every piece (SEND, or WRITE with immediate) consumes one receive the peer posted, so a piece
/// needs a credit; each piece's 4-byte prefix hands back the receives we reposted since the last
/// one (`owed`). Kept apart from `RDMAConnection` so the rule can be proven by a simulation on any
/// host (`CreditWindowTests`), with no RDMA device.
///
/// **The rule.** The last credit goes only to a piece that returns at least `threshold` credits.
/// A piece that returns nothing would leave the peer owing us receives with no credit of ours to
/// hear them through, and both ends could wait forever. A data piece may take the last credit as
/// long as it carries what is owed: reserving it for a credit-only piece is not enough, because
/// that piece needs a free send buffer, and when every send buffer is staged with data waiting
/// for credits there is none (this deadlocked under soft-RoCE, CI run of stop 7).
struct CreditWindow: Sendable, Equatable {
    /// Receives the peer has posted that our pieces have not consumed.
    private(set) var credits: Int
    /// Receives we reposted that the peer has not been told about.
    private(set) var owed = 0
    /// How many owed receives are worth a piece of their own (half our receives).
    let threshold: Int

    /// What to post now: the first `dataPieces` staged pieces, then a credit-only piece if asked.
    struct Plan: Equatable {
        var dataPieces: Int
        var creditOnly: Bool
    }

    /// `peerReceives` from the peer's handshake; `ownReceives` is how many we post.
    init(peerReceives: Int, ownReceives: Int) {
        credits = peerReceives
        threshold = max(1, ownReceives / 2)
    }

    /// Whether a piece returning `owed` credits may be posted with the credits there are.
    private static func mayPost(credits: Int, owed: Int, threshold: Int) -> Bool {
        credits >= 2 || (credits == 1 && owed >= threshold)
    }

    /// What to post with `staged` pieces waiting and `freeBuffers` send buffers to build a
    /// credit-only piece in. Does not change the window: each post calls `take()`.
    func plan(staged: Int, freeBuffers: Int) -> Plan {
        var credits = self.credits
        var owed = self.owed
        var data = 0
        while data < staged && Self.mayPost(credits: credits, owed: owed, threshold: threshold) {
            credits -= 1
            owed = 0
            data += 1
        }
        let creditOnly = owed >= threshold && credits >= 1 && freeBuffers > 0
        return Plan(dataPieces: data, creditOnly: creditOnly)
    }

    /// Whether an idle connection may send an empty keepalive piece (it returns what is owed, so
    /// it follows the same rule as any piece).
    var mayKeepAlive: Bool { Self.mayPost(credits: credits, owed: owed, threshold: threshold) }

    /// One piece is posted: it consumes a credit and carries what is owed (returned here for its prefix).
    mutating func take() -> Int {
        precondition(credits >= 1, "a piece was posted without a credit")
        credits -= 1
        defer { owed = 0 }
        return owed
    }

    /// A post that failed: give back the credit and what the piece would have returned.
    mutating func untake(returned: Int) {
        credits += 1
        owed += returned
    }

    /// A piece from the peer returned `count` credits.
    mutating func returned(_ count: Int) { credits += count }

    /// We reposted one receive; the peer hears of it with our next piece.
    mutating func reposted() { owed += 1 }
}
