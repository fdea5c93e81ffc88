import Foundation
import LifeboatCore

extension MetricsFile {
    /// Samples `replicate` writes every few seconds: per source the time since the last
    /// transaction stored in every replica while newer ones wait (0 when none wait), the bytes
    /// waiting, and each replica's newest stored transaction.
    public static func replication(_ statuses: [SourceReplicator.Status], now: Date) -> [Sample] {
        var s: [Sample] = []
        let nowMs = now.unixMilliseconds
        for st in statuses {
            let l = [("source", st.source)]
            let stored = st.replicas.map(\.timeMs).min() ?? 0
            let waiting = (st.lastCommitSeenMs ?? 0) > stored
            s.append(Sample("lifeboat_replication_lag_seconds", l, waiting && stored > 0 ? Double(nowMs - stored) / 1000 : 0))
            s.append(Sample("lifeboat_replication_pending_bytes", l, Double(st.pendingBytes)))
            s.append(Sample("lifeboat_replication_transactions_total", l, Double(st.transactions)))
            s.append(Sample("lifeboat_replication_sequence", l, Double(st.seq)))
            for r in st.replicas {
                let rl = [("source", st.source), ("repository", r.location)]
                if r.timeMs > 0 { s.append(Sample("lifeboat_replication_stored_timestamp_seconds", rl, Double(r.timeMs) / 1000)) }
                s.append(Sample("lifeboat_replication_replica_failing", rl, r.failing == nil ? 0 : 1))
            }
        }
        return s
    }
}
