/// One static route in a node's namespace: packets for `destination` leave through `interface` to the
/// neighbour at `via`.
///
/// Every node gets one route per other node (to its /32 data address), so forwarding never depends
/// on prefixes, summarisation or a routing daemon: the path a packet takes is exactly the one the plan
/// computed (and the one `FabricPlan.path(from:to:)` reports).
public struct Route: Sendable, Codable, Equatable {
    /// Destination with prefix length, e.g. `10.76.0.9/32`.
    public var destination: String
    /// Next-hop address (no prefix): the neighbour's end of the link `interface` belongs to.
    public var via: String
    /// Outgoing interface in this node's namespace (e.g. `e3a`).
    public var interface: String

    public init(destination: String, via: String, interface: String) {
        self.destination = destination
        self.via = via
        self.interface = interface
    }
}
