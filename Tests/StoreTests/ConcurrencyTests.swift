import Foundation
import Testing
@testable import Store

/// 40 processes request, approve, revoke and read grants on one store for 20 s: nothing is lost
/// and no process ever sees the store as busy.
struct ConcurrencyTests {
    @Test(.timeLimit(.minutes(3)))
    func fortyProcessesShareOneStore() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-storm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("policies/roles"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("policies/contracts"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let people = (0..<40).map { "  u\($0): [oncall, leads]" }.joined(separator: "\n")
        try "people:\n\(people)\n".write(to: dir.appendingPathComponent("policies/policy.yaml"), atomically: true, encoding: .utf8)
        try "role: readonly\nallow:\n  - cmd: ls\n".write(to: dir.appendingPathComponent("policies/roles/readonly.yaml"), atomically: true, encoding: .utf8)
        try "role: operator\nallow:\n  - cmd: ls\n".write(to: dir.appendingPathComponent("policies/roles/operator.yaml"), atomically: true, encoding: .utf8)
        try "contract: auto\nrole: readonly\nrequesters: {groups: [oncall]}\napproval: {auto: true}\nreason: {required: false}\n"
            .write(to: dir.appendingPathComponent("policies/contracts/auto.yaml"), atomically: true, encoding: .utf8)
        try "contract: one\nrole: operator\nrequesters: {groups: [oncall]}\napproval: {count: 1, groups: [leads]}\nreason: {required: false}\n"
            .write(to: dir.appendingPathComponent("policies/contracts/one.yaml"), atomically: true, encoding: .utf8)
        let config = dir.appendingPathComponent("jitsh.yaml").path
        try "store: \(dir.path)/jitsh.db\npolicies: \(dir.path)/policies\nsigning_key: \(dir.path)/key\nshared_accounts: [\(Account.login)]\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let initialized = try Binary.run(["init", "--config", config])
        #expect(initialized.status == 0, "\(initialized)")

        // Each worker logs every outcome: "request <id>", "approve <rc>", … and any error text.
        let worker = """
            J="$1"; C="$2"; me="u$3"; log="$4"; end=$((SECONDS + 20))
            while [ $SECONDS -lt $end ]; do
              case $((RANDOM % 5)) in
                0) out=$("$J" grant request --config "$C" --as "$me" --role readonly --json 2>>"$log.err"); rc=$?
                   [ $rc -eq 0 ] && echo "created $(echo "$out" | sed -n 's/.*"id":\\([0-9]*\\).*/\\1/p')" >> "$log"
                   echo "rc $rc" >> "$log" ;;
                1) out=$("$J" grant request --config "$C" --as "$me" --role operator --json 2>>"$log.err"); rc=$?
                   [ $rc -eq 0 ] && echo "created $(echo "$out" | sed -n 's/.*"id":\\([0-9]*\\).*/\\1/p')" >> "$log"
                   echo "rc $rc" >> "$log" ;;
                2) id=$("$J" grant list --config "$C" --as "$me" --pending 2>>"$log.err" | awk 'NR>1 {print $1}' | shuf -n 1)
                   if [ -n "$id" ]; then "$J" grant approve --config "$C" --as "$me" "$id" >/dev/null 2>>"$log.ok"; rc=$?
                     [ $rc -eq 0 ] && echo "approved $id" >> "$log"; echo "rc $rc" >> "$log"; fi ;;
                3) id=$("$J" grant list --config "$C" --as "$me" --mine --active 2>>"$log.err" | awk 'NR>1 {print $1}' | shuf -n 1)
                   if [ -n "$id" ]; then "$J" grant revoke --config "$C" --as "$me" "$id" >/dev/null 2>>"$log.ok"; rc=$?
                     [ $rc -eq 0 ] && echo "revoked $id" >> "$log"; echo "rc $rc" >> "$log"; fi ;;
                4) "$J" grant list --config "$C" --as "$me" >/dev/null 2>>"$log.err"; echo "rc $?" >> "$log" ;;
              esac
            done
            """
        var workers: [Process] = []
        for k in 0..<40 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = ["-c", worker, "worker", Binary.jitsh, config, String(k), dir.appendingPathComponent("w\(k).log").path]
            try p.run()
            workers.append(p)
        }
        for p in workers { p.waitUntilExit() }

        var created = Set<Int64>(), approved: [Int64] = [], revoked: [Int64] = [], statuses: [String: Int] = [:], errors: [String] = []
        for k in 0..<40 {
            let log = (try? String(contentsOf: dir.appendingPathComponent("w\(k).log"), encoding: .utf8)) ?? ""
            for line in log.split(separator: "\n") {
                let parts = line.split(separator: " ")
                guard parts.count == 2 else { continue }
                switch parts[0] {
                case "created": if let id = Int64(parts[1]) { created.insert(id) }
                case "approved": if let id = Int64(parts[1]) { approved.append(id) }
                case "revoked": if let id = Int64(parts[1]) { revoked.append(id) }
                default: statuses[String(parts[1]), default: 0] += 1
                }
            }
            errors += ((try? String(contentsOf: dir.appendingPathComponent("w\(k).log.err"), encoding: .utf8)) ?? "")
                .split(separator: "\n").map(String.init)
        }
        #expect(statuses["3"] == nil, "store errors: \(errors.prefix(5))")
        #expect(errors.isEmpty, "\(errors.prefix(5))")
        #expect(created.count > 100, "only \(created.count) grants in 20 s")

        let store = try SQLiteStore(path: "\(dir.path)/jitsh.db")
        let grants = Dictionary(uniqueKeysWithValues: try store.grants(identity: nil).map { ($0.id, $0) })
        #expect(Set(grants.keys) == created, "\(created.subtracting(grants.keys).count) lost, \(Set(grants.keys).subtracting(created).count) unreported")
        for id in approved {
            #expect(grants[id]?.events.contains { $0.kind == .approved && !$0.actor.hasPrefix("contract:") } == true, "approval of \(id) lost")
        }
        for id in revoked { #expect(grants[id]?.events.contains { $0.kind == .revoked } == true, "revocation of \(id) lost") }
        #expect(approved.count == grants.values.flatMap(\.events).filter { $0.kind == .approved && !$0.actor.hasPrefix("contract:") }.count)
    }
}

enum Account {
    static var login: String { ProcessInfo.processInfo.environment["USER"] ?? "root" }
}
