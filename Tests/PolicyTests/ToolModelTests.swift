import Foundation
import Testing
@testable import Policy
import ShellSyntax

/// The tool models, one spelling a line: what each line's options mean to the tool.
struct ToolModelTests {
    static func argv(_ line: String) -> [Field] {
        (try? ShellSyntax.extract(Array(line.utf8), environment: .unknown))?.commands.first?.argv ?? []
    }

    static func command(_ line: String) -> ExtractedCommand? {
        (try? ShellSyntax.extract(Array(line.utf8), environment: .unknown))?.commands.first
    }

    // The signal sent ("?" when an argument is unknown), every signal spelled.
    @Test(arguments: [
        ("kill 1", "TERM"), ("kill -HUP 1", "HUP"), ("kill -SIGHUP 1", "HUP"), ("kill -hup 1", "HUP"), ("kill -1 1", "HUP"),
        ("kill -9 1", "KILL"), ("kill -s KILL 1", "KILL"), ("kill -sKILL 1", "KILL"), ("kill -n 9 1", "KILL"),
        ("kill --signal KILL 1", "KILL"), ("kill --signal=USR1 1", "USR1"), ("kill -HUP -s KILL 1", "KILL"),
        ("kill -s KILL -HUP 1", "KILL"), ("kill -HUP -USR1 1", "HUP"), ("kill -l", "0"), ("kill -0 1", "0"), ("kill -- -1", "TERM"), ("kill -$S 1", "?"),
        ("kill -s $S 1", "?"), ("kill -IOT 1", "ABRT"), ("kill -RTMIN+1 1", "RTMIN+1"),
        ("pkill -HUP x", "HUP"), ("pkill -HUP --signal KILL x", "KILL"), ("pkill --signal KILL -HUP x", "KILL"),
        ("pkill -s 1 x", "TERM"), ("pkill -f -9 x", "KILL"), ("pkill --signal=TERM x", "TERM"),
        ("killall -HUP x", "HUP"), ("killall -s KILL x", "KILL"), ("killall -v -I x", "TERM"), ("killall -9 x", "KILL"),
    ])
    func signals(_ line: String, _ expected: String) {
        let facts = ToolFacts.of(Self.argv(line))
        if expected == "?" { #expect(!facts.signalKnown, "\(line)") } else {
            #expect(facts.signalKnown && facts.signal == expected, "\(line): \(facts)")
        }
    }

    // chmod/chown/systemctl effects; "?" marks a line whose effects are not all known.
    @Test(arguments: [
        ("chmod 644 f", "other-read"), ("chmod 0777 f", "group-write other-read other-write"), ("chmod 777 f", "group-write other-read other-write"),
        ("chmod 2755 f", "other-read setgid"), ("chmod 7 f", "other-read other-write"), ("chmod -R 700 d", "recursive"),
        ("chmod -vR 755 d", "other-read recursive"), ("chmod -Rv 700 d", "recursive"), ("chmod --recursive a=rwx d", "group-write other-read other-write recursive"),
        ("chmod --rec u+x d", "recursive"), ("chmod go+w f", "group-write other-write"), ("chmod g+w f", "group-write"),
        ("chmod o+w f", "other-write"), ("chmod +w f", "group-write other-write"), ("chmod a+w f", "group-write other-write"),
        ("chmod u+x,go-w f", ""), ("chmod -w f", ""), ("chmod g=u f", "group-write"), ("chmod o=g f", "other-read other-write"),
        ("chmod u+s f", "setuid"), ("chmod +t d", "sticky"), ("chmod -- -w f", ""), ("chmod $M f", "?"),
        ("chmod --reference=r f", "?"), ("chown -R a d", "owner recursive"), ("chown -hR a d", "owner recursive"),
        ("chown --recursive a d", "owner recursive"), ("chown a f", "owner"), ("chgrp -vR g d", "owner recursive"),
        ("systemctl start nginx", ""), ("systemctl start poweroff.target", "poweroff"), ("systemctl start poweroff", ""),
        ("systemctl restart reboot.target", "reboot"), ("systemctl start ctrl-alt-del.target", "reboot"),
        ("systemctl start 'power*'", "poweroff"), ("systemctl isolate multi-user.target", "isolate"), ("systemctl rescue", "rescue"),
        ("systemctl poweroff", "poweroff"), ("systemctl halt", "halt"), ("systemctl --force reboot", "force reboot"),
        ("systemctl -f start x", "force"), ("systemctl --job-mode=isolate start x", "isolate"), ("systemctl --job-mode isolate start x", "isolate"),
        ("systemctl --job-mode fail start x", ""), ("systemctl -H host start poweroff.target", "poweroff"),
        ("systemctl status poweroff.target", ""), ("systemctl start systemd-halt.service", "halt"), ("systemctl $V x", "?"),
    ])
    func effects(_ line: String, _ expected: String) {
        let facts = ToolFacts.of(Self.argv(line))
        if expected.hasSuffix("?") {
            #expect(!facts.effectsKnown, "\(line): \(facts)")
        } else {
            #expect(facts.effectsKnown && facts.effects.sorted().joined(separator: " ") == expected, "\(line): \(facts.effects.sorted())")
        }
    }

    // The kinds of every statement (sorted, joined), or "unseen" first when some SQL cannot be seen.
    @Test(arguments: [
        ("psql -c 'DROP TABLE t'", "drop"), ("psql -c $'DROP\\tTABLE t'", "drop"), ("psql -c 'DROP/**/TABLE t'", "drop"),
        ("psql -c 'drop/* a /* nested */ b */table t'", "drop"), ("psql -c 'DELETE  FROM t'", "delete delete-without-where"),
        ("psql -c 'delete from t where id = 1'", "delete"), ("psql -c 'delete from t using (select 1 where true) s'", "delete delete-without-where"),
        ("psql -c 'UPDATE t SET a = 1'", "update update-without-where"), ("psql -c \"select ';drop table t'\"", "select"),
        ("psql -c 'select $x$;drop table t$x$'", "select"), ("psql -c \"select E'\\\\\\\\';drop table t\"", "drop select"), ("psql -c \"select E'\\\\';drop table t\"", "select"),
        ("psql -c 'select 1; truncate t'", "select truncate"), ("psql -c '\"DROP\" TABLE t'", "other"),
        ("psql -c '--x\ndrop table t'", "drop"), ("psql --command 'grant all on t to u'", "grant"), ("psql -c 'revoke x'", "revoke"),
        ("psql -c 'create or replace function f() returns int as $$ select 1 $$ language sql'", "alter create"),
        ("psql -c 'do $$begin drop table t; end$$'", "code"), ("psql -c 'call p()'", "code"),
        ("psql -c 'with d as (delete from t) select 1'", "delete delete-without-where select"),
        ("psql -c 'explain analyze drop table t'", "drop"), ("psql -c 'explain (analyze) update t set a=1'", "update update-without-where"),
        ("psql -c \"copy t to '/tmp/x'\"", "copy server-file"), ("psql -c \"copy t from program 'id'\"", "copy program"),
        ("psql -c 'select 1::int'", "select"), ("psql -c 'select :x'", "unseen"), ("psql -c \"select :'x'\"", "unseen"),
        ("psql <<< 'drop table t'", "drop"), ("psql -f - <<< 'drop table t'", "drop"), ("psql", "unseen"), ("psql -f x.sql", "unseen"),
        ("psql -c \"$Q\"", "unseen"), ("psql -l", ""), ("psql -c '\\i x.sql'", "unseen"), ("psql -c 'select 1 \\gexec'", "unseen"),
        ("mysql -e 'DROP TABLE t'", "drop"), ("mysql -e $'drop\\ttable t'", "drop"), ("mysql -e 'drop/**/table t'", "drop"),
        ("mysql -e '/*!drop*/ table t'", "drop"), ("mysql -e '/*!50000 drop */ table t'", "drop"), ("mysql -e 'select 1 -- x'", "select"),
        ("mysql -e 'select 1 #; drop table t'", "select"), ("mysql -e \"select 'a\\\\';drop table t'\"", "select"),
        ("mysql -e 'delete from t'", "delete delete-without-where"), ("mysql -eDROP\\ TABLE\\ t", "drop"), ("mysql --execute='drop table t'", "drop"),
        ("mysql -e 'select * from t into outfile \"/tmp/x\"'", "select server-file"), ("mysql", "unseen"), ("mysql -e 'source x'", "unseen"),
        ("mysql -e 'delimiter //'", "unseen"), ("mysql <<< 'truncate t'", "truncate"),
        ("redis-cli unlink k", "delete"), ("redis-cli DEL k", "delete"), ("redis-cli -h h -p 1 flushall", "flush"), ("redis-cli get k", "read"),
        ("redis-cli eval 'redis.call(\"flushall\")' 0", "flush read"), ("redis-cli eval \"return redis.pcall('get', KEYS[1])\" 1 k", "read"),
        ("redis-cli eval 'local c = redis.call; c(\"flushall\")' 0", "read script"), ("redis-cli evalsha x 0", "script"),
        ("redis-cli script flush", "flush"), ("redis-cli config set dir /", "admin"), ("redis-cli", "unseen"), ("redis-cli --pipe", "unseen"),
        ("redis-cli --scan", ""), ("redis-cli <<< $'get k\\nflushdb'", "flush read"), ("redis-cli $C k", "unseen"),
    ])
    func statements(_ line: String, _ expected: String) throws {
        let command = try #require(Self.command(line), "\(line)")
        let analysis = try #require(StatementAnalysis.of(command))
        let kinds = analysis.kinds
        if expected == "unseen" { #expect(kinds.contains("unseen"), "\(line): \(analysis)") } else {
            #expect(kinds.sorted().joined(separator: " ") == expected, "\(line): \(kinds.sorted()) \(analysis.unseen)")
        }
    }

    // What psql's and mysql's own commands write and run.
    @Test(arguments: [
        ("psql -c '\\o /tmp/f'", "write /tmp/f"), ("psql -c '\\out /tmp/f'", "write /tmp/f"), ("psql -c '\\o |sh -c id'", "run sh -c id"),
        ("psql -c 'select 1 \\g /tmp/f'", "write /tmp/f"), ("psql -c 'select 1 \\g |cat'", "run cat"), ("psql -c '\\w /tmp/f'", "write /tmp/f"),
        ("psql -c '\\! ls -l'", "run  ls -l"), ("psql -c \"\\copy t to '/tmp/f' csv\"", "write /tmp/f"),
        ("psql -c \"\\copy t to program 'id'\"", "run  t to program 'id'"), ("psql -c '\\copy t to stdout'", ""),
        ("psql -c '\\lo_export 1 /tmp/f'", "write /tmp/f"), ("psql -c '\\set x `id`'", "run  x `id`"), ("psql -o /tmp/f -c 'select 1'", "write /tmp/f"),
        ("psql -c 'select 1 \\\\ \\o /tmp/f'", "write /tmp/f"), ("mysql -e 'tee /tmp/f'", "write /tmp/f"), ("mysql -e 'system id'", "run  id"),
        ("mysql -e '\\! id'", "run  id"), ("mysql --tee=/tmp/f", "write /tmp/f"), ("redis-cli --rdb /tmp/f", "write /tmp/f"),
    ])
    func clientCommands(_ line: String, _ expected: String) throws {
        let command = try #require(Self.command(line), "\(line)")
        let a = try #require(StatementAnalysis.of(command))
        let shown = (a.writes.map { "write \($0)" } + a.programs.map { "run \($0)" }).joined(separator: "; ")
        #expect(shown == expected, "\(line): \(a)")
    }

    // What a command destroys: kind and target, `;`-separated.
    @Test(arguments: [
        ("cp a b", "overwrites b|overwrites b/a"), ("cp -n a b", ""), ("cp -t d a", "overwrites d/a"), ("cp a b d/", "overwrites d/a,d/b"),
        ("cp -T a b", "overwrites b"), ("mv a b", "overwrites b|overwrites b/a"), ("tee f g", "truncates f;truncates g"), ("tee -a f", ""),
        ("dd if=a of=b", "overwrites b"), ("gzip f", "removes f"), ("gzip -k f", ""), ("gzip -c f", ""), ("gunzip -f f.gz", "removes f.gz"),
        ("xz -9 f", "removes f"), ("zstd f", ""), ("zstd --rm f", "removes f"), ("bzip2 --keep f", ""),
        ("tar -cf x --remove-files f", "overwrites x;removes f"), ("tar cf x f", "overwrites x"), ("tar -czf x f", "overwrites x"),
        ("tar --create --file=x f", "overwrites x"), ("tar -xf x", ""), ("tar -tf x", ""), ("sed -i s/a/b/ f", "edits in place f"),
        ("sed -e s/a/b/ -i f g", "edits in place f;edits in place g"), ("sed -n p f", ""), ("truncate -s 0 f", "truncates f"),
        ("shred -n 3 f", "overwrites f"), ("rm -r d", "removes d"), ("find d -name x -delete", "removes d"),
        ("rsync -a --delete a/ b/", "removes b/"), ("rsync -a a/ b/", ""), ("ln -sf a b", "overwrites b|overwrites b/a"), ("ln -s a b", ""),
    ])
    func destructions(_ line: String, _ expected: String) {
        let shown = Destructions.of(Self.argv(line)).map { d in
            let into = d.intoDirectory.map(\.text).joined(separator: ",")
            if d.mustBeDirectory { return "\(d.kind.rawValue) \(into)" }
            return "\(d.kind.rawValue) \(d.target.text)" + (into.isEmpty ? "" : "|\(d.kind.rawValue) \(into)")
        }.joined(separator: ";")
        #expect(shown == expected, "\(line)")
    }

    /// The signal models checked against the real tools: a process that traps the signal says which it got.
    @Test(arguments: ["kill -HUP -s KILL", "kill -s KILL -HUP", "kill -USR1 -n 12", "kill -s USR1 -s USR2", "kill -USR1"])
    func signalsAsBashSendsThem(_ spelled: String) throws {
        let words = spelled.split(separator: " ").map { Field(text: String($0), offset: 0) }
        let expected = try #require(ToolFacts.of(words).signal)
        let script = """
            sh -c 'for s in HUP USR1 USR2 TERM; do trap "echo $s; exit" $s; done; while :; do sleep 0.05; done' & p=$!; sleep 0.3
            \(spelled) $p 2>/dev/null; wait $p; s=$?; [ $s -gt 128 ] && kill -l $((s - 128))
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["--norc", "-c", script]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        let got = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(got == expected, "\(spelled): bash sent \(got), the model says \(expected)")
    }

    /// chmod as coreutils applies it, from mode 000: what the model says a mode adds covers what it added.
    @Test(arguments: ["644", "0777", "2755", "7", "go+w", "g+w", "o=rw", "a=rwx", "u+x,go-w", "u+s", "+t", "g=u", "o=g"])
    func modesAsChmodAppliesThem(_ mode: String) throws {
        let file = "/tmp/jitsh-chmod-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: file) }
        // Modes that copy bits start from bits to copy; only what the mode added counts.
        let base = mode == "g=u" ? 0o700 : mode == "o=g" ? 0o070 : 0
        let got = try Self.bash("umask 022; : > \(file); chmod \(String(base, radix: 8)) \(file); chmod -- \(mode) \(file); stat -c %a \(file)")
        let bits = (Int(got, radix: 8) ?? 0) & ~base
        var real = Set<String>()
        if bits & 0o020 != 0 { real.insert("group-write") }
        if bits & 0o002 != 0 { real.insert("other-write") }
        if bits & 0o004 != 0 { real.insert("other-read") }
        if bits & 0o4000 != 0 { real.insert("setuid") }
        if bits & 0o2000 != 0 { real.insert("setgid") }
        if bits & 0o1000 != 0 { real.insert("sticky") }
        let (model, known) = FileModes.modeEffects(mode)
        #expect(known && real.isSubset(of: model), "chmod \(mode) gave \(got): \(real.sorted()), the model says \(model.sorted())")
    }

    static func bash(_ script: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["--norc", "-c", script]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
