import CVerbs

/// The limits of an RDMA device, from `ibv_query_device` (`struct ibv_device_attr`), as Swift values:
/// what `ibv_devinfo -v` shows and what sizing a slot pool or queue depth must respect.
public struct DeviceAttributes: Sendable, Equatable {
    public var firmwareVersion: String
    /// Node GUID in host byte order.
    public var nodeGUID: UInt64
    public var vendorID: UInt32
    public var vendorPartID: UInt32
    public var maxQP: Int
    public var maxQPWR: Int
    public var maxSGE: Int
    public var maxCQ: Int
    public var maxCQE: Int
    public var maxMR: Int
    public var maxMRSize: UInt64
    public var maxPD: Int
    public var maxQPReadAtomic: Int
    public var maxQPInitiatorReadAtomic: Int
    public var physPortCount: Int

    public init(firmwareVersion: String = "", nodeGUID: UInt64 = 0, vendorID: UInt32 = 0, vendorPartID: UInt32 = 0,
                maxQP: Int, maxQPWR: Int, maxSGE: Int, maxCQ: Int, maxCQE: Int, maxMR: Int, maxMRSize: UInt64,
                maxPD: Int = 0, maxQPReadAtomic: Int = 0, maxQPInitiatorReadAtomic: Int = 0, physPortCount: Int) {
        self.firmwareVersion = firmwareVersion
        self.nodeGUID = nodeGUID
        self.vendorID = vendorID
        self.vendorPartID = vendorPartID
        self.maxQP = maxQP
        self.maxQPWR = maxQPWR
        self.maxSGE = maxSGE
        self.maxCQ = maxCQ
        self.maxCQE = maxCQE
        self.maxMR = maxMR
        self.maxMRSize = maxMRSize
        self.maxPD = maxPD
        self.maxQPReadAtomic = maxQPReadAtomic
        self.maxQPInitiatorReadAtomic = maxQPInitiatorReadAtomic
        self.physPortCount = physPortCount
    }

    init(_ attr: ibv_device_attr) {
        var version = attr.fw_ver
        let firmware = withUnsafeBytes(of: &version) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        self.init(firmwareVersion: firmware, nodeGUID: UInt64(bigEndian: attr.node_guid),
                  vendorID: attr.vendor_id, vendorPartID: attr.vendor_part_id,
                  maxQP: Int(attr.max_qp), maxQPWR: Int(attr.max_qp_wr), maxSGE: Int(attr.max_sge),
                  maxCQ: Int(attr.max_cq), maxCQE: Int(attr.max_cqe), maxMR: Int(attr.max_mr),
                  maxMRSize: attr.max_mr_size, maxPD: Int(attr.max_pd),
                  maxQPReadAtomic: Int(attr.max_qp_rd_atom), maxQPInitiatorReadAtomic: Int(attr.max_qp_init_rd_atom),
                  physPortCount: Int(attr.phys_port_cnt))
    }
}
