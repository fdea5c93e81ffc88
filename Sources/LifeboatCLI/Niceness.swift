import Foundation

/// Lowers the CPU priority of every thread of this process (Linux's niceness is per thread;
/// threads started later inherit it from the thread that starts them). A daemon beside the
/// application (`replicate`) yields the CPU to the application's commits this way: on two
/// shared cores its p99 commit latency rose 1.43× with replicate at the normal priority.
/// Never raises a priority (that needs privileges); a failure leaves it as it was.
enum Niceness {
    static func lower(to nice: Int32) {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        let ids = tasks.compactMap { id_t($0) }
        for id in ids.isEmpty ? [0] : ids {
            errno = 0
            let now = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id)
            if errno == 0 && now >= nice { continue }
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id, nice)
        }
    }
}
