import CVerbs

/// What `CMID.connect` and `CMID.accept` tell the peer (`struct rdma_conn_param`): private data for
/// the application (e.g. a job key and the rkey/address of a slot pool; at most 56 bytes on connect and
/// 196 on accept for RC over RoCE/IB), how many RDMA READs may be outstanding each way, and the retry
/// counts (7 = retry forever for receiver-not-ready).
public struct ConnectionParameters: Sendable, Equatable {
    public var privateData: [UInt8]
    public var responderResources: UInt8
    public var initiatorDepth: UInt8
    /// Transport retries before a send fails with "retry counter exceeded" (ignored on accept).
    public var retryCount: UInt8
    public var rnrRetryCount: UInt8

    public init(privateData: [UInt8] = [], responderResources: UInt8 = 1, initiatorDepth: UInt8 = 1,
                retryCount: UInt8 = 7, rnrRetryCount: UInt8 = 7) {
        self.privateData = privateData
        self.responderResources = responderResources
        self.initiatorDepth = initiatorDepth
        self.retryCount = retryCount
        self.rnrRetryCount = rnrRetryCount
    }

    /// Calls `body` with the C struct, its private data pointing into `privateData`.
    func withRaw<R>(_ body: (inout rdma_conn_param) -> R) -> R {
        privateData.withUnsafeBytes { bytes in
            var param = rdma_conn_param()
            param.private_data = bytes.isEmpty ? nil : bytes.baseAddress
            param.private_data_len = UInt8(clamping: bytes.count)
            param.responder_resources = responderResources
            param.initiator_depth = initiatorDepth
            param.retry_count = retryCount
            param.rnr_retry_count = rnrRetryCount
            return body(&param)
        }
    }
}
