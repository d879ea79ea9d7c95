import Crypto
import Foundation

/// The secret a job's ranks share (set by whoever starts them: `launch`, `mpirun`, a user's own
/// launcher through `TRIBUTARY_JOB_SECRET`). Ranks prove they hold it without sending it: the proof
/// is an HMAC over the job's name keyed by the secret's digest. The first rank's proof defines the
/// job; another tenant on the same fabric, without the secret, cannot join, end or fake it.
public enum JobSecret {
    /// Where ranks find the secret: an environment variable, never a command-line argument (which
    /// every user on the machine can read in /proc).
    public static let environmentVariable = "TRIBUTARY_JOB_SECRET"

    public static func proof(secret: String, jobName: String) -> String {
        let key = SymmetricKey(data: Array(SHA256.hash(data: Array(secret.utf8))))
        return AuthKey(key).mac("tributary-job-v1|" + jobName)
    }

    /// Constant-time comparison of two proofs.
    public static func matches(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }

    /// A fresh secret for a launcher to hand its ranks.
    public static func generate() -> String { AuthKey.random().hex }
}
