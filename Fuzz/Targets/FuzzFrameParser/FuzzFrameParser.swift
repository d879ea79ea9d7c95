import FuzzChecks

/// libFuzzer's entry, called by its `main` with every input it tries: the bytes of a connection, parsed whole, byte
/// by byte and split in two. A violated invariant traps, so that libFuzzer keeps the input; `FrameParserCheck` says
/// what must hold.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let problems = FrameParserCheck.run(Array(UnsafeBufferPointer(start: data, count: size)))
    if !problems.isEmpty { fatalError(problems.joined(separator: "; ")) }
    return 0
}
