import FuzzChecks

/// libFuzzer's entry, called by its `main` with every input it tries: a control frame's JSON body. A violated
/// invariant traps, so that libFuzzer keeps the input; `ControlMessageCheck` says what must hold.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let problems = ControlMessageCheck.run(Array(UnsafeBufferPointer(start: data, count: size)))
    if !problems.isEmpty { fatalError(problems.joined(separator: "; ")) }
    return 0
}
