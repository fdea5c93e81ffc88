import ArgumentParser
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

@main
struct LifeboatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lifeboat",
        abstract: "Encrypted, page-incremental backups of live SQLite databases, with point-in-time restore.",
        discussion: """
        The passphrase comes from LIFEBOAT_PASSWORD_FILE, LIFEBOAT_PASSWORD_COMMAND or LIFEBOAT_PASSWORD, never from the command line. The repository is --repo LOCATION or LIFEBOAT_REPOSITORY. Settings can come from a config file (--config or LIFEBOAT_CONFIG); flags and environment win.

        Exit codes: 0 ok, 1 error, 3 incomplete (a source or a replica is behind), 10 no repository, 11 locked, 12 wrong passphrase, 13 damaged data, 20 drill or RPO target missed, 64 usage.
        """,
        version: LifeboatVersion.current,
        subcommands: [
            InitCommand.self,
            SnapshotCommand.self,
            SnapshotsCommand.self,
            RestoreCommand.self,
            VerifyCommand.self,
            CheckCommand.self,
            RepairCommand.self,
            SyncCommand.self,
            ForgetCommand.self,
            PruneCommand.self,
            UnlockCommand.self,
            StatusCommand.self,
            ReplicateCommand.self,
            TimelineCommand.self,
            DrillCommand.self,
            Demo.self,
            KeyCommand.self,
            SourceKeyCommand.self,
            ShredCommand.self,
            AuditCommand.self,
            IAMPolicyCommand.self,
        ]
    )

    /// Process-wide set-up before any command runs.
    static func main() {
        MemoryTuning.apply()
        main(nil)
    }
}
