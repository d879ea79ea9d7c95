import FuzzChecks

/// libFuzzer's entry, called by its `main` with every input it tries: a topology file's text. A violated invariant
/// traps, so that libFuzzer keeps the input; `TopologyCheck` says what must hold.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let problems = TopologyCheck.run(Array(UnsafeBufferPointer(start: data, count: size)))
    if !problems.isEmpty { fatalError(problems.joined(separator: "; ")) }
    return 0
}
