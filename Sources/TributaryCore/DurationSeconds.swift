extension Duration {
    /// This duration as a `Double` number of seconds, for rates (bytes per second) and reports;
    /// the standard library only gives it as (seconds, attoseconds).
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
