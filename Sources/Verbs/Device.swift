import CVerbs

/// One RDMA device (an `ibv_device` from the device list): its name and node GUID, and the way to
/// open it. Holds the list it came from, whose C array its pointer lives in.
public final class Device: CustomStringConvertible, @unchecked Sendable {
    let raw: UnsafeMutablePointer<ibv_device>
    let list: DeviceListStorage

    /// The kernel's name for the device: "rxe0", "mlx5_0", …
    public let name: String
    /// The node GUID, in host byte order.
    public let guid: UInt64

    init(raw: UnsafeMutablePointer<ibv_device>, list: DeviceListStorage) {
        self.raw = raw
        self.list = list
        name = ibv_get_device_name(raw).map { String(cString: $0) } ?? "?"
        guid = UInt64(bigEndian: ibv_get_device_guid(raw))
    }

    /// The GUID as `ibv_devices` prints it: 16 hex digits in groups of four.
    public var guidText: String {
        let hex = String(guid, radix: 16)
        let padded = String(repeating: "0", count: 16 - hex.count) + hex
        var groups: [Substring] = []
        var rest = padded[...]
        while !rest.isEmpty {
            groups.append(rest.prefix(4))
            rest = rest.dropFirst(4)
        }
        return groups.joined(separator: ":")
    }

    public var description: String { "\(name) (GUID \(guidText))" }

    /// Opens the device (`ibv_open_device`).
    public func open() throws(VerbsError) -> Context {
        try Context(device: self)
    }
}
