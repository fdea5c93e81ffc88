import CBuildInfo

/// What the binary was built from, as recorded at build time by Scripts/build-info (which
/// Scripts/test and Scripts/package run before `swift build`).
public enum BuildInfo {
    /// The git commit (with "-dirty" when the tree had uncommitted changes), or nil when the
    /// build did not record one (a plain `swift build`, or a source tree outside git).
    public static var commit: String? {
        guard let c = lifeboat_build_commit() else { return nil }
        let s = String(cString: c)
        return s.isEmpty ? nil : s
    }

    /// What evidence says when the commit is not known: never a guess.
    public static let unknownCommit = "unknown (built without Scripts/build-info, or outside git)"

    public static var commitOrUnknown: String { commit ?? unknownCommit }
}
