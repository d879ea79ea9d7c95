/// Why a trace could not be written or merged, naming the file.
public enum TraceError: Error, CustomStringConvertible, Equatable {
    /// The file (or its temporary twin) could not be created, written or renamed into place.
    case cannotWrite(path: String, reason: String)
    /// The directory of per-process traces could not be listed.
    case cannotList(directory: String, reason: String)
    /// The directory holds no per-process trace that could be merged.
    case nothingToMerge(directory: String, skipped: [String])

    public var description: String {
        switch self {
        case .cannotWrite(let path, let reason): return "cannot write trace \(path): \(reason)"
        case .cannotList(let directory, let reason): return "cannot list trace directory \(directory): \(reason)"
        case .nothingToMerge(let directory, let skipped):
            return "no per-process trace to merge in \(directory)"
                + (skipped.isEmpty ? "" : " (skipped: \(skipped.joined(separator: "; ")))")
        }
    }
}
