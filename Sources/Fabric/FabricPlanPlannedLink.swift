extension FabricPlan {
    /// A topology link as a veth pair, with the properties the shaping must enforce (each direction).
    public struct PlannedLink: Sendable, Codable, Equatable {
        /// Position in `Topology.links` (and in interface names: `e<index>a` / `e<index>b`).
        public var index: Int
        public var a: LinkEnd
        public var b: LinkEnd
        /// Bits per second.
        public var rate: Double
        /// One-way latency in seconds.
        public var latency: Double
        /// Latency jitter in seconds.
        public var jitter: Double
        /// Packet loss as a fraction in [0, 1].
        public var loss: Double

        public init(index: Int, a: LinkEnd, b: LinkEnd, rate: Double, latency: Double, jitter: Double, loss: Double) {
            self.index = index
            self.a = a
            self.b = b
            self.rate = rate
            self.latency = latency
            self.jitter = jitter
            self.loss = loss
        }

        /// Both ends, `a` first.
        public var ends: [LinkEnd] { [a, b] }
    }
}
