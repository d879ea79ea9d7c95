import TributaryCore

/// What must hold for any control body a peer can send, checked by the `fuzz-control-message` target
/// and by the regression test (docs/FUZZING.md). The body goes through `WireFormat.decodeControl`, the
/// very call `FrameParser` makes once a control frame is in: it must refuse with
/// `WireError.malformedControl`, never trap. A message it accepts must print (logs describe every
/// message they refuse or relay) and survive a round trip through its own encoder, which traps on
/// what JSON cannot carry — so a decoder that lets such a value in is a crash waiting for a re-send.
public enum ControlMessageCheck {
    /// The violations found (empty when every invariant holds).
    public static func run(_ body: [UInt8]) -> [String] {
        let message: ControlMessage
        do {
            message = try withBytes(body) { raw throws(WireError) in try WireFormat.decodeControl(raw) }
        } catch {
            if case .malformedControl = error { return [] }
            return ["a control body refused as \(error), not as a malformed control message"]
        }
        _ = message.description
        return roundTrip(message)
    }

    /// `message` encodes, and the encoding decodes to the same message and encodes the same again.
    static func roundTrip(_ message: ControlMessage) -> [String] {
        let encoded = WireFormat.encodeControl(message)
        let again: ControlMessage
        do {
            again = try withBytes(encoded) { raw throws(WireError) in try WireFormat.decodeControl(raw) }
        } catch {
            return ["a decoded message re-encodes to a body its own decoder refuses: \(error)"]
        }
        if again != message { return ["a decoded message changes through its own encoding: \(message) vs \(again)"] }
        if WireFormat.encodeControl(again) != encoded { return ["a message's encoding is not stable"] }
        return []
    }
}
