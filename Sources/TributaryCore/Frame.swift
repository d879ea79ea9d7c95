/// One unit on a Tributary connection: a control message or a data chunk.
public enum Frame: Sendable, Equatable {
    case control(ControlMessage)
    case chunk(ChunkHeader, payload: [UInt8])

    /// Frame kinds on the wire (preamble byte 5).
    public enum Kind: UInt8, Sendable {
        case control = 1
        case chunk = 2
    }

    public var kind: Kind {
        switch self {
        case .control: return .control
        case .chunk: return .chunk
        }
    }
}

/// An address a role listens on. For TCP: host and port; for the in-process transport: a name.
public struct Endpoint: Sendable, Codable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        let host = String(text[..<colon])
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }

    public var description: String { "\(host):\(port)" }
}
