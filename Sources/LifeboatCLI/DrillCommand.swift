import ArgumentParser
import Foundation
import LifeboatCore
import LifeboatStorage
import LifeboatRepository
import LifeboatOperations
import LifeboatWorkload
import LifeboatDrill

/// `lifeboat drill run|history`: scripted disaster-recovery exercises and their track record.
struct DrillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Run a disaster-recovery drill from a scenario file and measure RTO and RPO; list past drills.",
        subcommands: [Run.self, History.self, Keygen.self, VerifyReport.self]
    )

    struct ReportOptions: ParsableArguments {
        @Option(help: "Directory of drill reports and their history. Default: $LIFEBOAT_DRILL_REPORTS, the config's drill_history, ./drill-reports.")
        var reportDir: String?

        @Option(name: .customLong("config"), help: ArgumentHelp("Configuration file (lifeboat.yml): its drill_history and metrics_file are the defaults here. Default: $LIFEBOAT_CONFIG.", valueName: "file"))
        var configPath: String?

        /// The config, when one is given (only drill_history and metrics_file are used).
        func config() throws -> LifeboatConfig? {
            guard let path = configPath ?? ProcessInfo.environmentValue("LIFEBOAT_CONFIG"), !path.isEmpty else { return nil }
            return try ConfigLoader.load(path: path)
        }

        @Option(help: ArgumentHelp("Second record of the history, away from the report directory. Default: $LIFEBOAT_DRILL_ANCHOR or ~/.local/state/lifeboat/drill-anchors.jsonl.", valueName: "file"))
        var anchor: String?

        var anchorPath: String { anchor ?? DrillAnchor.defaultPath }

        func directory() throws -> String {
            DrillHistoryLocation.directory(flag: reportDir, config: try config())
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a drill end to end and write its report (JSON, Markdown, HTML).",
            discussion: """
            The drill works on its own copies in a scratch directory and removes them afterwards, also when
            interrupted. Existing repositories named in the scenario are only read; their loss is simulated.
            Exit codes: 0 every target met, 20 a target missed (the report says why),
            1 the drill could not complete, 64 the scenario file is invalid or names paths that do not exist
            (no report is written then), 130 interrupted.
            """
        )

        @Argument(help: "Scenario file (YAML), e.g. Scenarios/delete-database.yml.")
        var scenario: String

        @OptionGroup var reports: ReportOptions

        @Option(help: "Where the scratch directory is made. Default: $TMPDIR or /tmp.")
        var scratchDir: String?

        @Option(help: ArgumentHelp("Sign report.json with this Ed25519 key (from 'lifeboat drill keygen'; mode 0600).", valueName: "file"))
        var signKey: String?

        @Option(help: ArgumentHelp("CA bundle for S3 repositories with a private CA. Default: $LIFEBOAT_CACERT.", valueName: "file"))
        var cacert: String?

        @Option(help: ArgumentHelp("Write the drill's Prometheus textfile metrics here (default: the config's metrics_file).", valueName: "file"))
        var metricsFile: String?

        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReporting { try execute() }
        }

        func execute() throws {
                let s = try ScenarioLoader.load(path: scenario)
                let config = try reports.config()
                let reportDir = DrillHistoryLocation.directory(flag: reports.reportDir, config: config)
                let metrics = (metricsFile ?? config?.metricsFile).map(MetricsFile.init(path:))
                let quiet = output.quiet || output.json
                let backendOptions = BackendOptions(caCertPath: cacert)
                let command = (["lifeboat"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
                var progress: (@Sendable (String) -> Void)?
                if !quiet { progress = { @Sendable line in Output.line(line) } }
                let options = DrillRunner.Options(
                    scratchParent: scratchDir ?? NSTemporaryDirectory(),
                    openBackend: { location in try openBackend(location: location, options: backendOptions) },
                    progress: progress,
                    initiator: DrillReport.Initiator.current(command: command))
                let runner = DrillRunner(scenario: s, options: options)
                try runner.preflight()
                // Read before the drill, so a bad key stops it before it starts.
                let signingKey = try signKey.map { try DrillSigning.loadPrivateKey($0) }
                if !quiet { Output.line("drill: \(s.name) (\(s.file))") }

                // First signal: stop at the next step, clean up, write the report. Second: remove
                // the scratch directory at once and leave.
                let signals = Locked(0)
                signal(SIGINT, SIG_IGN)
                signal(SIGTERM, SIG_IGN)
                let sources = [SIGINT, SIGTERM].map { sig in
                    let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                    source.setEventHandler {
                        let n = signals.withLock { $0 += 1; return $0 }
                        if n == 1 {
                            runner.cancel()
                        } else {
                            runner.emergencyCleanup()
                            _exit(130)
                        }
                    }
                    source.resume()
                    return source
                }
                defer { sources.forEach { $0.cancel() } }

                let report = try runner.run()
                let written = try DrillArchive.write(report, to: reportDir, anchor: reports.anchorPath, signingKey: signingKey)
                try metrics?.update(DrillMetrics.samples(report))
                // The one write to an existing repository: the drill's record in its audit trail.
                let recorded = DrillAuditTrail.record(report, written: written, reportDir: reportDir, scenario: s,
                                                      openBackend: { try openBackend(location: $0, options: backendOptions) })
                if !quiet { recorded.forEach { Output.line($0) } }
                if output.json {
                    try Output.json(Summary(report: report, directory: written.directory, files: written.files))
                } else if !output.quiet || report.outcome != .passed {
                    Output.line("\(DrillFormatCLI.verdict(report))")
                    Output.line("report: \(written.directory)/report.html (also report.md, report.json)")
                    Output.line("SHA-256 of report.json: \(written.files.first?.sha256 ?? "")")
                }
                switch report.outcome {
                case .passed: return
                case .targetMissed: throw LifeboatError(.targetMissed, "drill target missed: \(report.summary)")
                case .failed:
                    if signals.current > 0 { throw ExitCode(130) }
                    throw LifeboatError(.internalError, report.summary)
                }
        }

        struct Summary: Encodable {
            let outcome: String
            let summary: String
            let rto_seconds: Double?
            let rpo_seconds: Double?
            let lost_transactions: Int?
            let report_directory: String
            let report_sha256: String

            init(report: DrillReport, directory: String, files: [(name: String, sha256: String)]) {
                outcome = report.outcome.rawValue
                summary = report.summary
                rto_seconds = report.rto.achievedSeconds
                rpo_seconds = report.rpo.achievedSeconds
                lost_transactions = report.rpo.lostTransactions
                report_directory = directory
                report_sha256 = files.first { $0.name == "report.json" }?.sha256 ?? ""
            }
        }
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List past drills with their measured RTO and RPO (oldest first), to show the trend.",
            discussion: "With --verify, also check that no report or history line was changed since it was written, and that the history still matches its anchor (no drill removed, no line rewritten); exit 13 if not."
        )

        @OptionGroup var reports: ReportOptions

        @Option(help: "Only drills of this scenario (its name).")
        var scenario: String?

        @Flag(help: "Check every report file against the SHA-256 recorded in the history chain.")
        var verify = false

        @Option(name: .customLong("repo"), help: ArgumentHelp("With --verify: also hold the history against the drill records in this repository's audit trail (repeatable; drills against existing repositories record themselves there).", valueName: "location"))
        var repositories: [String] = []

        @Option(help: ArgumentHelp("Environment prefix of the --repo passphrase (PREFIX_PASSWORD_FILE, …). Default: LIFEBOAT.", valueName: "prefix"))
        var passwordPrefix = "LIFEBOAT"

        @Option(help: ArgumentHelp("CA bundle for S3 repositories with a private CA. Default: $LIFEBOAT_CACERT.", valueName: "file"))
        var cacert: String?

        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReporting {
                let dir = try reports.directory()
                let entries = try DrillArchive.readHistory(dir).filter { scenario == nil || $0.scenario == scenario }
                var problems = verify ? try DrillArchive.verify(dir, anchor: reports.anchorPath) : []
                if !repositories.isEmpty && !verify {
                    throw LifeboatError(.usage, "--repo is for --verify: add --verify to hold the history against the repository's audit trail")
                }
                for location in repositories where verify {
                    let backend = try openBackend(location: location, options: BackendOptions(caCertPath: cacert))
                    let repository = try Repository.open(backend: backend, passphrase: try PassphraseSource.fromEnvironment(prefix: passwordPrefix, purpose: "passphrase for repository \(location)"))
                    problems += try DrillAuditTrail.verify(reportDir: dir, records: try DrillAuditTrail.records(in: repository, reportDir: dir), repository: location)
                }
                if output.json {
                    struct Out: Encodable { let drills: [DrillHistoryEntry]; let problems: [String]? }
                    try Output.json(Out(drills: entries, problems: verify ? problems : nil))
                } else if !output.quiet {
                    if entries.isEmpty { Output.line("no drills recorded in \(dir)") } else {
                        Output.line("TIME (UTC)             SCENARIO                          DISASTER               OUTCOME        RTO (target)           RPO (target)           LOST")
                        var previous: [String: Double] = [:]
                        for e in entries {
                            var rto = "\(DrillFormat.seconds(e.rtoSeconds)) (\(DrillFormat.seconds(e.rtoTargetSeconds)))"
                            if let now = e.rtoSeconds, let before = previous[e.scenario], before > 0 {
                                rto += String(format: " %+.0f%%", (now - before) / before * 100)
                            }
                            if let now = e.rtoSeconds { previous[e.scenario] = now }
                            Output.line([pad(String(e.time.prefix(19)) + "Z", 22), pad(e.scenario, 33), pad(e.disaster, 22), pad(e.outcome, 14),
                                         pad(rto, 22), pad("\(DrillFormat.seconds(e.rpoSeconds)) (\(DrillFormat.seconds(e.rpoTargetSeconds)))", 22),
                                         e.lostTransactions.map(String.init) ?? "-"].joined(separator: " "))
                        }
                        Output.line("\(entries.count) drill(s); reports in \(dir)")
                    }
                    if verify {
                        Output.line(problems.isEmpty ? "history verified: every report matches its recorded SHA-256, the chain is whole and matches its anchor\(repositories.isEmpty ? "" : " and the audit trail of \(repositories.joined(separator: ", "))")" : "")
                    }
                }
                if !problems.isEmpty {
                    for p in problems { FileHandle.standardError.write(Data("lifeboat: tampering: \(p)\n".utf8)) }
                    throw LifeboatError(.corrupt, "drill history verification failed: \(problems.count) problem(s)")
                }
            }
        }

        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? String(s.prefix(n - 1)) + "…" : s.padding(toLength: n, withPad: " ", startingAt: 0) }
    }
}

extension DrillCommand {
    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an Ed25519 key pair for signing drill reports: FILE (private, mode 0600) and FILE.pub.",
            discussion: "Give FILE to 'drill run --sign-key'; hand FILE.pub to whoever checks the reports ('drill verify-report')."
        )

        @OptionGroup var output: OutputOptions

        @Argument(help: "Where the private key goes; the public key goes to FILE.pub. Neither may exist.")
        var file: String

        func run() throws {
            try runReporting {
                let pub = try DrillSigning.generate(privateKeyPath: file, publicKeyPath: file + ".pub")
                if output.json {
                    try Output.json(["private_key_file": file, "public_key_file": file + ".pub", "public_key": pub])
                } else if !output.quiet {
                    Output.line("drill signing key written to \(file) (keep it private) and public key \(pub) to \(file).pub")
                }
            }
        }
    }

    struct VerifyReport: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-report",
            abstract: "Check a drill report's Ed25519 signature (report.json.sig beside it) against a public key.",
            discussion: "Exit 0: signed by that key and unchanged since; 13: not signed, signed by another key, or changed."
        )

        @Argument(help: "The report.json to check.")
        var file: String

        @Option(help: ArgumentHelp("The signer's public key (FILE.pub from 'drill keygen').", valueName: "file"))
        var key: String

        @OptionGroup var output: OutputOptions

        func run() throws {
            try runReporting {
                if let problem = try DrillSigning.problem(reportPath: file, publicKey: try DrillSigning.loadPublicKey(key)) {
                    throw LifeboatError(.corrupt, "\(file): \(problem)")
                }
                if output.json {
                    try Output.json(["report": file, "key": key, "signature": "valid"])
                } else if !output.quiet {
                    Output.line("\(file): signature valid, signed by \(key) and unchanged since")
                }
            }
        }
    }
}

enum DrillFormatCLI {
    static func verdict(_ r: DrillReport) -> String {
        let rto = r.targets.first { $0.measure == "RTO" }
        let rpo = r.targets.first { $0.measure == "RPO" }
        let head: String
        switch r.outcome {
        case .passed: head = "PASSED"
        case .targetMissed: head = "TARGET MISSED"
        case .failed: head = "DRILL FAILED"
        }
        var s = "\(head): RTO \(rto?.achieved ?? "-") (target \(rto?.target ?? "-")), RPO \(rpo?.achieved ?? "-") (target \(rpo?.target ?? "-"))"
        if let lost = r.rpo.lostTransactions { s += ", \(lost) transaction\(lost == 1 ? "" : "s") lost" }
        if r.outcome != .passed { s += "\n  " + r.summary }
        return s
    }
}
