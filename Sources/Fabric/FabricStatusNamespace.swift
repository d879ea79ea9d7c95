extension FabricStatus {
    /// A node's namespace as found.
    public struct Namespace: Sendable, Codable {
        public var node: String
        /// `host` or `switch`.
        public var kind: String
        public var name: String
        public var exists: Bool
        public var dataAddress: String
        public var managementAddress: String
        /// IPv4 forwarding (switches only; nil for hosts, which must not forward).
        public var forwarding: Bool?
        /// Planned /32 routes found in the namespace, and how many the plan has.
        public var routes: Int
        public var plannedRoutes: Int

        public init(node: String, kind: String, name: String, exists: Bool, dataAddress: String,
                    managementAddress: String, forwarding: Bool?, routes: Int, plannedRoutes: Int) {
            self.node = node
            self.kind = kind
            self.name = name
            self.exists = exists
            self.dataAddress = dataAddress
            self.managementAddress = managementAddress
            self.forwarding = forwarding
            self.routes = routes
            self.plannedRoutes = plannedRoutes
        }
    }
}
