/// splitmix64 (Steele, Lea and Flood): a Weyl sequence through a full-avalanche finaliser. The one
/// seeded generator of the project — input generation, link emulation, tests — so a seed replays
/// the same draws everywhere and on every platform (the standard library's generator is not seeded).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= Self.golden
        return Self.mix(state)
    }

    /// The finaliser alone: a bijection on 64 bits with full avalanche (hashing an index).
    @inline(__always)
    public static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
