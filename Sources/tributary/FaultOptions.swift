import ArgumentParser
import Foundation
import TributaryCore

/// `--faults SPEC`: seeded fault injection (docs/RELIABILITY.md). `launch`, `bench` and `serve`
/// parse and check it once, before starting anything, and hand the same text to each child it
/// concerns; `aggregator` and `worker` apply the parts naming their switch, host or rank.
struct FaultOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Inject faults, deterministically from a seed: kill:SWITCH@op=N, hang:SWITCH@chunk=K, "
            + "drop:NODE-NODE@frames=0.01, delay:NODE-NODE@ms=5, corrupt:NODE@op=N,chunk=K, slow:rank=R@ms=20, "
            + "several joined by `;`, and seed=N (default 1). See docs/RELIABILITY.md.",
        valueName: "spec"))
    var faults: String?

    /// The plan, or nil without `--faults`; a bad SPEC is refused naming the token and its position.
    func plan() throws -> FaultPlan? {
        guard let faults else { return nil }
        do {
            return try FaultPlan.parse(faults)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// The plan checked against this run (`FaultPlan.validate`), or nil without `--faults`.
    func plan(topology: Topology, aggregators: [String]?, worldSize: Int?) throws -> FaultPlan? {
        guard let plan = try plan() else { return nil }
        do {
            try plan.validate(topology: topology, aggregators: aggregators, worldSize: worldSize)
        } catch {
            throw ValidationError(error.description)
        }
        return plan
    }

    func validate() throws { _ = try plan() }
}

/// What a child process does with the plan it was given: the hook for its role, or nil when the
/// plan names nothing of it (the data path then pays one nil check). A kill or hang takes the
/// whole process, as a switch losing power or wedging would: SIGKILL (no goodbye on any
/// connection) or SIGSTOP (connections open, nothing moves), said first on stderr, into its log.
enum FaultInjection {
    static func hook(_ plan: FaultPlan?, forSwitch name: String) -> (any FaultHook)? {
        guard let plan, plan.concerns(node: name) else { return nil }
        return injector(plan, who: "aggregator \(name)")
    }

    static func hook(_ plan: FaultPlan?, forRank rank: Int, host: String?) -> (any FaultHook)? {
        guard let plan, plan.concerns(rank: rank, host: host ?? "") else { return nil }
        return injector(plan, who: "worker rank \(rank)")
    }

    /// The arguments that give a child the plan (none when it names nothing of the child).
    static func arguments(_ plan: FaultPlan?, concerned: Bool) -> [String] {
        guard let plan, concerned else { return [] }
        return ["--faults", plan.spec]
    }

    private static func injector(_ plan: FaultPlan, who: String) -> FaultInjector {
        FaultInjector(plan: plan) { fault, what in
            switch fault {
            case .kill:
                writeStderr("tributary \(who): fault injection: \(what): SIGKILL")
                kill(getpid(), SIGKILL)
            case .hang:
                writeStderr("tributary \(who): fault injection: \(what): SIGSTOP (until SIGCONT)")
                kill(getpid(), SIGSTOP)
            }
        }
    }
}
