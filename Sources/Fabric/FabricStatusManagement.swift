extension FabricStatus {
    /// The management namespace and its bridge, as found.
    public struct Management: Sendable, Codable {
        public var namespace: String
        public var exists: Bool
        public var bridgeUp: Bool
        /// The coordinator's address (no prefix).
        public var address: String
        /// Node veths attached to the bridge and up, and how many the plan has.
        public var ports: Int
        public var plannedPorts: Int

        public init(namespace: String, exists: Bool, bridgeUp: Bool, address: String, ports: Int, plannedPorts: Int) {
            self.namespace = namespace
            self.exists = exists
            self.bridgeUp = bridgeUp
            self.address = address
            self.ports = ports
            self.plannedPorts = plannedPorts
        }
    }
}
