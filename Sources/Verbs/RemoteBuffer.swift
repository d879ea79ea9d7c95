/// Where in a peer's registered memory an RDMA WRITE lands: its address and remote key, as the peer
/// advertised them (`MemoryRegion.remote(offset:)` on its side, sent over the control plane or in
/// rdma_cm private data).
public struct RemoteBuffer: Sendable, Equatable, Hashable {
    public var address: UInt64
    public var rkey: UInt32

    public init(address: UInt64, rkey: UInt32) {
        self.address = address
        self.rkey = rkey
    }
}
