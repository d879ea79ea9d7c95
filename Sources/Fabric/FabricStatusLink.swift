extension FabricStatus {
    /// A planned link as found: both ends, and what enforces its properties.
    public struct Link: Sendable, Codable {
        public var index: Int
        public var a: LinkEnd
        public var b: LinkEnd
        public var rate: Double
        public var latency: Double
        public var jitter: Double
        public var loss: Double
        /// Which mechanism enforces rate, delay, jitter and loss on this kernel.
        public var shaping: LinkShaping

        public init(index: Int, a: LinkEnd, b: LinkEnd, rate: Double, latency: Double, jitter: Double,
                    loss: Double, shaping: LinkShaping) {
            self.index = index
            self.a = a
            self.b = b
            self.rate = rate
            self.latency = latency
            self.jitter = jitter
            self.loss = loss
            self.shaping = shaping
        }

        /// Both interfaces exist, are up, and carry the qdiscs the shaping needs.
        public var ok: Bool { a.ok && b.ok }
    }
}
