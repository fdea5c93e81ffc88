import Foundation
import LifeboatCore

extension DrillReport {
    /// The RTO the measured phases would give for the production database's size over its link:
    /// projected, not measured, and never judged as the RTO target (only whether it would fit).
    public struct Projection: Codable, Sendable {
        /// Always "projected, not measured", so no reader of the JSON takes it for a measurement.
        public var label: String
        /// The scenario's `projection.production_size`, and the bytes the drill restored.
        public var productionBytes: Int
        public var measuredBytes: Int
        /// production_bytes ÷ measured_bytes: the factor per-byte phases are multiplied by.
        public var scale: Double
        /// The scenario's `projection.link` as written, and in bytes per second.
        public var link: String
        public var linkBytesPerSecond: Double
        /// production_bytes ÷ link_bytes_per_second: fetch can take no less.
        public var fetchFloorSeconds: Double
        public var measuredRtoSeconds: Double
        public var projectedRtoSeconds: Double
        public var targetSeconds: Double
        /// Whether the projection would fit the RTO target (a projection, not a target met).
        public var fitsTarget: Bool
        /// The formula with its figures, in words.
        public var formula: String
        public var phases: [ProjectedPhase]
    }

    public struct ProjectedPhase: Codable, Sendable {
        public var name: String
        /// fixed (as measured), per_byte (× scale) or link_bound (fetch: production bytes ÷ link).
        public var rule: String
        public var measuredSeconds: Double
        public var projectedSeconds: Double
    }
}

/// The RTO projection: fixed phases as measured, per-byte phases scaled with the database's
/// size, and the fetch no faster than the link can carry the production database.
public enum DrillProjection {
    public static let label = "projected, not measured"

    /// Phases whose time grows with the database's bytes: every page is located, fetched,
    /// decrypted, written, checked and read again by the verification (replay is scaled too,
    /// though it grows with the work since the snapshot: conservative). Everything else
    /// (detection, stopping the application, key derivation, finding the snapshot, rename, swap,
    /// health query, a failed attempt) stays as measured.
    public static let perBytePhases: Set<String> = [
        "locate (index, page table)", fetchPhase, "decrypt + decompress", "write",
        DrillRunner.replayPhase, "integrity check", "verification queries",
    ]
    public static let fetchPhase = "fetch"

    /// Pure: the measured phases and RTO, the bytes restored, the production size and link.
    /// Time the phases do not account for (between them) stays as measured.
    public static func project(phases: [DrillReport.Phase], measuredRTO: Double, measuredBytes: Int,
                               productionBytes: Int, link: String, linkBytesPerSecond: Double, target: Double) -> DrillReport.Projection {
        let scale = Double(productionBytes) / Double(max(1, measuredBytes))
        let floor = Double(productionBytes) / linkBytesPerSecond
        var fixed = 0.0, perByte = 0.0
        let projected = phases.map { p -> DrillReport.ProjectedPhase in
            guard perBytePhases.contains(p.name) else {
                fixed += p.seconds
                return .init(name: p.name, rule: "fixed", measuredSeconds: p.seconds, projectedSeconds: p.seconds)
            }
            perByte += p.seconds
            let scaled = p.seconds * scale
            if p.name == fetchPhase && floor > scaled {
                return .init(name: p.name, rule: "link_bound", measuredSeconds: p.seconds, projectedSeconds: floor)
            }
            return .init(name: p.name, rule: "per_byte", measuredSeconds: p.seconds, projectedSeconds: scaled)
        }
        // A restore without a fetch phase still has to bring the bytes over the link.
        var all = projected
        if !phases.contains(where: { $0.name == fetchPhase }) {
            all.append(.init(name: fetchPhase, rule: "link_bound", measuredSeconds: 0, projectedSeconds: floor))
        }
        let rto = measuredRTO + all.reduce(0) { $0 + $1.projectedSeconds - $1.measuredSeconds }
        let size = Units.formatBytes(productionBytes), measured = Units.formatBytes(measuredBytes)
        let formula = "fixed phases as measured (\(DrillFormat.seconds(fixed))) + per-byte phases (\(DrillFormat.seconds(perByte))) × \(scaleText(scale)) "
            + "(\(size) ÷ \(measured) restored), with fetch no faster than \(size) ÷ \(link) (\(LinkSpeed.format(linkBytesPerSecond))) = \(DrillFormat.seconds(floor))"
        return .init(label: label, productionBytes: productionBytes, measuredBytes: measuredBytes, scale: scale, link: link,
                     linkBytesPerSecond: linkBytesPerSecond, fetchFloorSeconds: floor, measuredRtoSeconds: measuredRTO,
                     projectedRtoSeconds: rto, targetSeconds: target, fitsTarget: rto <= target, formula: formula, phases: all)
    }

    /// "Projected RTO for 40.0 GiB over 1Gbit/s: 6 min 2 s (projected, not measured); it would fit the RTO target of 4 h 0 min."
    public static func sentence(_ p: DrillReport.Projection) -> String {
        let fit = p.fitsTarget ? "it would fit the RTO target of \(DrillFormat.seconds(p.targetSeconds))"
            : "it would exceed the RTO target of \(DrillFormat.seconds(p.targetSeconds)) by \(DrillFormat.seconds(p.projectedRtoSeconds - p.targetSeconds))"
        return "Projected RTO for \(Units.formatBytes(p.productionBytes)) over \(p.link): \(DrillFormat.seconds(p.projectedRtoSeconds)) (\(label), from this drill's phases at \(Units.formatBytes(p.measuredBytes))); \(fit)."
    }

    public static func ruleText(_ rule: String) -> String {
        switch rule {
        case "per_byte": return "× size"
        case "link_bound": return "size ÷ link"
        default: return "as measured"
        }
    }

    static func scaleText(_ s: Double) -> String {
        s >= 100 ? String(Int(s.rounded())) : String(format: "%.2f", s)
    }
}
