import ArgumentParser
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

/// `lifeboat iam-policy`: least-privilege S3 policies, one per role.
struct IAMPolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iam-policy",
        abstract: "Print the minimal S3 IAM policy for a role (backup, prune, restore, admin).",
        discussion: """
        backup: read, and write new objects; cannot delete or touch keys/config.
        prune: backup plus delete of data, index, snapshots and locks (never keys or audit records).
        restore: read, and write audit records only. admin: init and key management.
        Give cron's snapshot job backup credentials and run prune with separate prune credentials.
        """
    )

    @Option(help: "Role: backup, prune, restore or admin.")
    var role: String
    @Option(help: "Bucket name.")
    var bucket: String
    @Option(help: "Key prefix of the repository inside the bucket.")
    var prefix: String?
    @Flag(help: "Add what S3 Object Lock needs: versioned reads, retention on PUT, version deletes for prune.")
    var objectLock = false
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard IAMPolicy.Role(rawValue: role) != nil else {
            throw ValidationError("--role must be one of: \(IAMPolicy.Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        try runReporting {
            guard let r = IAMPolicy.Role(rawValue: role) else { throw LifeboatError(.usage, "unknown role \(role)") }
            // --quiet still builds the policy, so a bad bucket or prefix fails the same way.
            if output.json {
                try Output.json(IAMPolicy.policy(role: r, bucket: bucket, prefix: prefix, objectLock: objectLock), keys: .asWritten)
            } else {
                let text = try IAMPolicy.document(role: r, bucket: bucket, prefix: prefix, objectLock: objectLock)
                if !output.quiet { Output.line(text) }
            }
        }
    }
}
