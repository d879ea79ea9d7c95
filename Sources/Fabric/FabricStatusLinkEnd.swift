extension FabricStatus {
    /// One interface of a link as found.
    public struct LinkEnd: Sendable, Codable {
        public var node: String
        public var namespace: String
        public var interface: String
        public var exists: Bool
        /// Administratively up with carrier (operstate UP, which a veth reports only when both ends are up).
        public var up: Bool
        /// qdisc kinds on the interface, root first (e.g. `["netem", "tbf"]`).
        public var qdiscs: [String]
        /// qdisc kinds the shaping needs.
        public var expectedQdiscs: [String]

        public init(node: String, namespace: String, interface: String, exists: Bool, up: Bool, qdiscs: [String],
                    expectedQdiscs: [String]) {
            self.node = node
            self.namespace = namespace
            self.interface = interface
            self.exists = exists
            self.up = up
            self.qdiscs = qdiscs
            self.expectedQdiscs = expectedQdiscs
        }

        public var ok: Bool { exists && up && Set(expectedQdiscs).isSubset(of: Set(qdiscs)) }
    }
}
