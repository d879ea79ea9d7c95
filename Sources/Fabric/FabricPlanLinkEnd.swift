extension FabricPlan {
    /// One side of a veth pair: the interface in `node`'s namespace and its point-to-point address.
    public struct LinkEnd: Sendable, Codable, Equatable {
        /// Node name (not namespace): look it up with `FabricPlan.node(_:)`.
        public var node: String
        /// Interface name, at most 15 characters (the kernel's limit), unique within the namespace.
        public var interface: String
        /// IPv4 address with prefix length, e.g. `10.77.0.1/30`.
        public var address: String

        public init(node: String, interface: String, address: String) {
            self.node = node
            self.interface = interface
            self.address = address
        }

        /// `address` without the prefix length: what a neighbour uses as next hop.
        public var host: String {
            address.split(separator: "/", maxSplits: 1).first.map(String.init) ?? address
        }
    }
}
