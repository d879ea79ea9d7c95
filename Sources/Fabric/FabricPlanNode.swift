extension FabricPlan {
    /// A switch or host of the topology, and where it lives in the emulated fabric.
    public struct Node: Sendable, Codable, Equatable {
        /// Whether the node forwards: switches do (IPv4 forwarding on), hosts never do, which keeps
        /// every route on the switch paths the tree builder also uses.
        public enum Kind: String, Sendable, Codable {
            case host
            case switch_ = "switch"
        }

        /// Topology name (`h0`, `leaf1`, …).
        public var name: String
        public var kind: Kind
        /// Network namespace holding the node's interfaces and its processes.
        public var namespace: String
        /// IPv4 address (no prefix) reachable from every other node over the shaped data links.
        ///
        /// A /32 of its own, not one of the link /30s: it stays the same whichever link a packet
        /// arrives on, so multi-homed hosts (rails) and switches have one identity, and routes set it
        /// as the source address so replies come back over the data links too. It sits alone on an
        /// interface of its own (`FabricAddressing.dataInterface`, a bridge without ports): not on
        /// `lo`, which MPI libraries skip, and not beside a link's /30, which Open MPI's TCP transport
        /// would publish and dial instead.
        public var dataAddress: String
        /// IPv4 address (no prefix) on the unshaped management network (coordinator, control plane).
        public var managementAddress: String

        public init(name: String, kind: Kind, namespace: String, dataAddress: String, managementAddress: String) {
            self.name = name
            self.kind = kind
            self.namespace = namespace
            self.dataAddress = dataAddress
            self.managementAddress = managementAddress
        }
    }
}
