/// Which mechanism enforces each property of a link (the same in both directions).
///
/// Reported by `fabric status` and used by the processes in the fabric: when delay, jitter or loss
/// say `.dataPath`, the kernel does not enforce them (no netem) and Tributary's transport must.
public struct LinkShaping: Sendable, Codable, Equatable {
    public var rate: Mechanism
    public var delay: Mechanism
    public var jitter: Mechanism
    public var loss: Mechanism

    public enum Mechanism: String, Sendable, Codable {
        /// Token bucket qdisc on each veth end's egress.
        case tbf
        /// Hierarchical token bucket (not chosen by `Shaping` today; kept for plans that need classes).
        case htb
        /// The kernel's network emulator qdisc.
        case netem
        /// Emulated by Tributary's transport (seeded delay layer), because the kernel cannot.
        case dataPath = "tributary-data-path"
        /// Nothing to enforce (the property is zero).
        case none
    }

    public init(rate: Mechanism, delay: Mechanism, jitter: Mechanism, loss: Mechanism) {
        self.rate = rate
        self.delay = delay
        self.jitter = jitter
        self.loss = loss
    }

    /// True when some property is left to the data path.
    public var needsDataPath: Bool { [rate, delay, jitter, loss].contains(.dataPath) }
}
