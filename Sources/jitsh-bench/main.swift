// Measurements for `make bench` (see scripts/bench.sh): each subcommand prints one JSON object.
import Foundation
import Policy
import Session
import ShellSyntax
import Store

enum Clock {
    static func nanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }
}

struct Summary: Encodable {
    var tool: String
    var benchmark: String
    var samples: Int
    var p50_ns: Double
    var p99_ns: Double
    var mean_ns: Double
    var max_ns: Double
    /// The report's table for it (nil: parse and decide).
    var section: String?

    init(tool: String, benchmark: String, samples: [UInt64]) {
        let sorted = samples.sorted()
        func percentile(_ p: Double) -> Double {
            sorted.isEmpty ? 0 : Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))])
        }
        self.tool = tool
        self.benchmark = benchmark
        self.samples = sorted.count
        p50_ns = percentile(0.50)
        p99_ns = percentile(0.99)
        mean_ns = sorted.isEmpty ? 0 : Double(sorted.reduce(0, +)) / Double(sorted.count)
        max_ns = Double(sorted.last ?? 0)
    }
}

func emit<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    print(String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self))
}

/// Lines of a bench file; `↵` stands for a newline inside a line.
func loadLines(_ path: String) -> [String] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        FileHandle.standardError.write(Data("jitsh-bench: cannot read \(path)\n".utf8))
        exit(2)
    }
    return text.split(separator: "\n").map { $0.replacingOccurrences(of: "↵", with: "\n") }
}

/// Parse and extract every line, `iterations` times; one sample per line per iteration.
func benchParse(_ path: String, iterations: Int) {
    let lines = loadLines(path).map { Array($0.utf8) }
    let environment = ShellEnvironment(variables: ["HOME": "/home/u", "PATH": "/usr/bin:/bin"], complete: true)
    var failures = 0
    for line in lines where (try? ShellSyntax.extract(line, environment: environment)) == nil { failures += 1 }
    var samples: [UInt64] = []
    samples.reserveCapacity(lines.count * iterations)
    var sink = 0
    for iteration in 0..<(iterations + 10) {
        for line in lines {
            let t0 = Clock.nanoseconds()
            let e = try? ShellSyntax.extract(line, environment: environment)
            let t1 = Clock.nanoseconds()
            sink &+= e?.commands.count ?? 0
            if iteration >= 10 { samples.append(t1 - t0) }
        }
    }
    if ProcessInfo.processInfo.environment["JITSH_BENCH_SLOWEST"] != nil {
        // Per-line medians, slowest first: where to look when p99 moves.
        var medians: [(UInt64, Int)] = []
        for (index, _) in lines.enumerated() {
            let own = stride(from: index, to: samples.count, by: lines.count).map { samples[$0] }.sorted()
            medians.append((own[own.count / 2], index))
        }
        for (ns, index) in medians.sorted(by: { $0.0 > $1.0 }).prefix(12) {
            FileHandle.standardError.write(Data("\(ns / 1000) µs  \(String(decoding: lines[index], as: UTF8.self))\n".utf8))
        }
    }
    var summary = Summary(tool: "jitsh", benchmark: "parse", samples: samples)
    if sink == 0 || failures > 0 { summary.tool += " (\(failures) lines failed)" }
    emit(summary)
}

/// A role of `count` rules: the shipped observe role's commands plus synthetic ones, a third of
/// them deny or confirm rules with options and argument patterns, as large real policies have.
func syntheticPolicy(rules count: Int) throws -> Policy {
    var yaml = "role: bench\nallow:\n  - cmd: [ls, cat, grep, tail, head, awk, sort, uniq, wc, du, df, ps, find, journalctl, kubectl, curl, echo, sed, xargs]\n"
    for k in 0..<max(0, count - 1) {
        switch k % 3 {
        case 0: yaml += "  - cmd: tool\(k)\n    args: [\"status *\", \"--flag\(k) ...\"]\n"
        case 1: yaml += "  - cmd: [tool\(k), alt\(k)]\n"
        default: yaml += "  - cmd: util\(k)\n    args: [\"--opt\(k) *\"]\n"
        }
    }
    yaml += "deny:\n"
    for k in 0..<max(1, count / 3) { yaml += "  - cmd: tool\(k * 3)\n    option: [-x\(k), --danger\(k)]\n" }
    yaml += "  - cmd: find\n    option: [-delete, -exec]\nwrites: [/tmp/**]\n"
    return try PolicyLoader.load([PolicyFile(path: "roles/bench.yaml", text: yaml)])
}

/// Parse + decide every line under roles of 10 … 10,000 rules.
func benchDecide(_ path: String, iterations: Int) {
    let lines = loadLines(path).map { Array($0.utf8) }
    let environment = ShellEnvironment(variables: ["HOME": "/home/u", "PATH": "/usr/bin:/bin", "PWD": "/home/u"], complete: true)
    let context = DecisionContext(host: HostInfo(name: "bench"), epochSeconds: 1_767_614_400, cwd: "/home/u", home: "/home/u")
    for count in [10, 100, 1_000, 10_000] {
        guard let policy = try? syntheticPolicy(rules: count) else {
            FileHandle.standardError.write(Data("jitsh-bench: the synthetic policy does not load\n".utf8))
            exit(2)
        }
        let decider = Decider(policy)
        var samples: [UInt64] = []
        var verdicts = 0
        for iteration in 0..<(iterations + 5) {
            for line in lines {
                let t0 = Clock.nanoseconds()
                let d = decider.decide(line: line, environment: environment, role: "bench", context: context)
                let t1 = Clock.nanoseconds()
                if d.verdict == .allow { verdicts += 1 }
                if iteration >= 5 { samples.append(t1 - t0) }
            }
        }
        var summary = Summary(tool: "jitsh", benchmark: "decide-\(count)-rules", samples: samples)
        if verdicts == 0 { summary.tool += " (nothing allowed)" }
        emit(summary)
    }
}

/// The cost a line pays for `snapshot:` watching `files` files (2 KiB each, in 20 directories):
/// the walk before the line and after it, with nothing changed and with one file changed (then
/// also its images committed to a store and the diff built). One sample per line.
func benchSnapshot(files: Int, lines: Int) {
    print("{\"section\": \"snapshot\", \"files\": \(files), \"lines\": \(lines)}")
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("jitsh-bench-snapshot-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: root) }
    for k in 0..<files {
        let dir = "\(root)/watched/d\(k % 20)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let text = (0..<64).map { "setting_\(k)_\($0) = value \($0);\n" }.joined()
        _ = FileManager.default.createFile(atPath: "\(dir)/f\(k).conf", contents: Data(text.utf8.prefix(2048)))
    }
    guard let store = try? SQLiteStore(path: root + "/jitsh.db", create: true) else { exit(2) }
    let session = "bench"
    try? store.startSession(SessionRecord(id: session, identity: "bench", login: "bench", role: "bench", grantID: nil, host: "bench",
                                          client: "local", mode: "exec", command: "", startedAt: 0),
                            event: AuditEvent(at: 0, sessionID: session, identity: "bench", host: "bench", kind: .sessionStart))
    // As a role's `snapshot: [{paths: ["DIR/**"]}]` makes it.
    let settings = SnapshotSettings(rules: [SnapshotRule(ref: SourceRef(file: "bench", line: 1, column: 1), paths: [root + "/watched/**"])])
    let watcher = Watcher(roots: settings.walkRoots(home: "/"), limit: settings.limit, include: settings.matcher(home: "/"))
    var t = Clock.nanoseconds()
    watcher.scan()
    func report(_ benchmark: String, _ samples: [UInt64]) {
        var s = Summary(tool: "jitsh", benchmark: benchmark, samples: samples)
        s.section = "snapshot"
        emit(s)
    }
    report("first walk (reads and hashes every file)", [Clock.nanoseconds() - t])
    var unchanged: [UInt64] = []
    for _ in 0..<lines {
        t = Clock.nanoseconds()
        let before = watcher.scan()
        let after = watcher.scan()
        let changes = FileChange.between(before.images, after.images)
        unchanged.append(Clock.nanoseconds() - t)
        if !changes.isEmpty { FileHandle.standardError.write(Data("jitsh-bench: \(changes.count) changes in an unchanged tree\n".utf8)) }
    }
    report("a line that changes nothing (walk before and after)", unchanged)
    var changed: [UInt64] = []
    for n in 0..<lines {
        let path = "\(root)/watched/d\(n % 20)/f\(n % files).conf"
        t = Clock.nanoseconds()
        let before = watcher.scan()
        var spent = Clock.nanoseconds() - t
        _ = FileManager.default.createFile(atPath: path, contents: Data("edited at line \(n)\n".utf8) + (FileManager.default.contents(atPath: path) ?? Data()))
        t = Clock.nanoseconds()
        let after = watcher.scan()
        let changes = FileChange.between(before.images, after.images)
        var contents: [String: [UInt8]] = [:]
        for c in changes {
            for d in [c.before?.digest, c.after?.digest].compactMap({ $0 }) { contents[d] = before.contents[d] ?? after.contents[d] }
        }
        _ = try? store.appendImages(session: session, line: n + 1, at: Int64(n), changes: changes, contents: contents)
        _ = SnapshotReport.build(changes, contents: contents)
        spent += Clock.nanoseconds() - t
        changed.append(spent)
        if changes.count != 1 { FileHandle.standardError.write(Data("jitsh-bench: \(changes.count) changes for one edit\n".utf8)) }
    }
    report("a line that edits one file (walks, images committed, diff)", changed)
}

let arguments = CommandLine.arguments
switch arguments.dropFirst().first {
case "parse":
    benchParse(arguments.count > 2 ? arguments[2] : "bench/lines.txt", iterations: arguments.count > 3 ? Int(arguments[3]) ?? 200 : 200)
case "decide":
    benchDecide(arguments.count > 2 ? arguments[2] : "bench/lines.txt", iterations: arguments.count > 3 ? Int(arguments[3]) ?? 100 : 100)
case "snapshot":
    benchSnapshot(files: arguments.count > 2 ? Int(arguments[2]) ?? 1000 : 1000, lines: arguments.count > 3 ? Int(arguments[3]) ?? 200 : 200)
default:
    FileHandle.standardError.write(Data("usage: jitsh-bench parse|decide LINES [ITERATIONS] | snapshot [FILES] [LINES]\n".utf8))
    exit(2)
}
