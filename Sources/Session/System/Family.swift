import CSpawn
#if canImport(Glibc)
import Glibc
#endif

/// Every process a session started, wherever it went: jitsh is the subreaper of its jobs, so a
/// daemon that double-forks or calls setsid is still one of its descendants, and ends with the
/// line that started it (or with the session).
enum Family {
    struct Member: Equatable {
        var pid: pid_t
        var parent: pid_t
    }

    /// Makes orphans of the session's jobs come back to jitsh instead of init.
    static func adoptOrphans() -> Bool { jitsh_become_subreaper() == 0 }

    /// The descendants now (pids and their parents).
    static func members() -> [Member] {
        var capacity = 4096
        while true {
            var pids = [pid_t](repeating: 0, count: capacity), parents = pids
            let n = Int(jitsh_descendants(&pids, &parents, Int32(capacity)))
            if n < capacity || capacity >= 1 << 20 { return (0..<n).map { Member(pid: pids[$0], parent: parents[$0]) } }
            capacity *= 4
        }
    }

    /// The members that are `roots` or descend from one of them.
    static func subtrees(of roots: Set<pid_t>, in members: [Member]) -> Set<pid_t> {
        var kept = roots
        var grew = true
        while grew {
            grew = false
            for m in members where !kept.contains(m.pid) && kept.contains(m.parent) {
                kept.insert(m.pid)
                grew = true
            }
        }
        return kept
    }

    /// Kills every descendant outside `keep` (and outside their subtrees) and reaps those that are
    /// jitsh's own children, until none is left; the guard thread reaps the traced ones as they
    /// die. Bounded: a fork bomb racing the kills is given up on after ~2 s, and the session's
    /// end (or the kernel's parent-death signal) finishes it.
    @discardableResult
    static func end(keeping keep: Set<pid_t>) -> Int {
        var killed = 0
        let me = getpid()
        for round in 0..<200 {
            let all = members()
            let kept = subtrees(of: keep, in: all)
            let doomed = all.filter { !kept.contains($0.pid) }
            if doomed.isEmpty { return killed }
            for m in doomed {
                if kill(m.pid, SIGKILL) == 0 { killed += 1 }
            }
            for m in doomed where m.parent == me {
                var status: Int32 = 0
                _ = waitpid(m.pid, &status, WNOHANG | __WALL)
            }
            if round > 0 { usleep(10_000) }
        }
        return killed
    }
}
