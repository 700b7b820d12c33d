import ShellSyntax

/// chmod, chown and chgrp as GNU coreutils read them.
enum FileModes {
    /// chmod's own flags (`-R`, `-c`, `-f`, `-v`); any other letter after `-` makes the word a mode (`-w`).
    static let chmodFlags: Set<Character> = ["R", "c", "f", "v"]
    static let modeCharacters = Set("rwxXstugoa+-=,01234567")

    static func chmod(_ args: [Field]) -> ToolFacts {
        var facts = ToolFacts()
        var mode: Field?
        var reference = false
        var optionsEnded = false
        for f in args {
            guard let a = f.staticText else {
                // An unknown word may be the mode or `-R`.
                facts.effectsKnown = false
                if mode == nil && !reference { mode = f }
                continue
            }
            if !optionsEnded && a == "--" { optionsEnded = true; continue }
            if !optionsEnded && a.hasPrefix("--") {
                let name = String(a.prefix { $0 != "=" })
                if "--recursive".hasPrefix(name), name.count > 2 { facts.effects.insert("recursive") }
                if name.count > 3, "--reference".hasPrefix(name) { reference = true }
                continue
            }
            if !optionsEnded, a.hasPrefix("-"), a.count > 1, a.dropFirst().allSatisfy(chmodFlags.contains) {
                if a.contains("R") { facts.effects.insert("recursive") }
                continue
            }
            if mode == nil && !reference { mode = f; continue }
        }
        if reference {
            // The mode is copied from a file the decision cannot read.
            facts.effectsKnown = false
            facts.effects.formUnion(["group-write", "other-write", "other-read", "setuid", "setgid", "sticky"])
        } else if let m = mode {
            if let text = m.staticText {
                let (effects, known) = modeEffects(text)
                facts.effects.formUnion(effects)
                if !known { facts.effectsKnown = false }
            } else {
                facts.effects.formUnion(["group-write", "other-write", "other-read", "setuid", "setgid", "sticky"])
            }
        }
        return facts
    }

    /// What a mode adds: an octal number sets every bit it names; a symbolic mode adds with `+`
    /// and `=`. No `ugoa` means all, limited by a umask the decision does not know: counted as all.
    static func modeEffects(_ mode: String) -> (Set<String>, Bool) {
        var out = Set<String>()
        if !mode.isEmpty, mode.allSatisfy({ $0 >= "0" && $0 <= "7" }) {
            let bits = Int(mode, radix: 8) ?? 0
            if bits & 0o020 != 0 { out.insert("group-write") }
            if bits & 0o002 != 0 { out.insert("other-write") }
            if bits & 0o004 != 0 { out.insert("other-read") }
            if bits & 0o4000 != 0 { out.insert("setuid") }
            if bits & 0o2000 != 0 { out.insert("setgid") }
            if bits & 0o1000 != 0 { out.insert("sticky") }
            return (out, true)
        }
        guard mode.allSatisfy(modeCharacters.contains) else { return (["group-write", "other-write", "other-read"], false) }
        for clause in mode.split(separator: ",", omittingEmptySubsequences: false) {
            var who = Set<Character>()
            var rest = Substring(clause)
            while let c = rest.first, "ugoa".contains(c) { who.insert(c); rest.removeFirst() }
            if who.isEmpty || who.contains("a") { who = ["u", "g", "o"] }
            var adding = false
            for c in rest {
                switch c {
                case "+", "=": adding = true
                case "-": adding = false
                default:
                    guard adding else { continue }
                    // `g=u` copies bits the decision cannot see: any of them.
                    let perms: [Character] = "ugo".contains(c) ? ["r", "w", "x"] : [c]
                    for p in perms {
                        if p == "w" && who.contains("g") { out.insert("group-write") }
                        if p == "w" && who.contains("o") { out.insert("other-write") }
                        if p == "r" && who.contains("o") { out.insert("other-read") }
                        if p == "s" && who.contains("u") { out.insert("setuid") }
                        if p == "s" && who.contains("g") { out.insert("setgid") }
                        if p == "t" { out.insert("sticky") }
                    }
                }
            }
        }
        return (out, true)
    }

    /// chown/chgrp: recursion in every spelling (`-R`, `-vR`, `--recursive`, `--recur`).
    static func chown(_ args: [Field]) -> ToolFacts {
        var facts = ToolFacts(effects: ["owner"])
        for f in args {
            guard let a = f.staticText else { facts.effectsKnown = false; continue }
            if a == "--" { break }
            if a.hasPrefix("--") {
                let name = String(a.prefix { $0 != "=" })
                if name.count > 2, "--recursive".hasPrefix(name) { facts.effects.insert("recursive") }
            } else if a.hasPrefix("-"), a.count > 1, a.dropFirst().allSatisfy({ "RHLPcfhv".contains($0) }), a.contains("R") {
                facts.effects.insert("recursive")
            }
        }
        return facts
    }
}

/// systemctl: the verb, the units it starts, and `--force`.
enum SystemctlModel {
    /// Units whose start stops the host or changes what runs on it wholesale.
    static let targetEffects: [String: String] = [
        "poweroff.target": "poweroff", "systemd-poweroff.service": "poweroff", "shutdown.target": "poweroff",
        "final.target": "poweroff", "exit.target": "poweroff", "reboot.target": "reboot", "systemd-reboot.service": "reboot",
        "ctrl-alt-del.target": "reboot", "soft-reboot.target": "reboot", "systemd-soft-reboot.service": "reboot",
        "halt.target": "halt", "systemd-halt.service": "halt", "kexec.target": "kexec", "systemd-kexec.service": "kexec",
        "rescue.target": "rescue", "rescue.service": "rescue", "emergency.target": "emergency", "emergency.service": "emergency",
        "sleep.target": "suspend", "suspend.target": "suspend", "hibernate.target": "suspend", "hybrid-sleep.target": "suspend",
        "suspend-then-hibernate.target": "suspend", "systemd-suspend.service": "suspend", "systemd-hibernate.service": "suspend",
    ]
    static let verbEffects: [String: String] = [
        "poweroff": "poweroff", "reboot": "reboot", "soft-reboot": "reboot", "halt": "halt", "kexec": "kexec", "rescue": "rescue",
        "emergency": "emergency", "isolate": "isolate", "default": "isolate", "suspend": "suspend", "hibernate": "suspend",
        "hybrid-sleep": "suspend", "suspend-then-hibernate": "suspend", "sleep": "suspend", "exit": "poweroff",
        "switch-root": "reboot", "set-default": "default-target",
    ]
    /// Verbs that start the units they name (and so their targets' effects).
    static let startingVerbs: Set<String> = ["start", "restart", "try-restart", "reload-or-restart", "try-reload-or-restart",
                                             "force-reload", "condrestart", "enable", "reenable", "link", "preset", "add-wants",
                                             "add-requires", "isolate"]
    static let valued: Set<String> = ["-H", "--host", "-M", "--machine", "-t", "--type", "-p", "--property", "-P", "-s", "--signal",
                                      "-n", "--lines", "-o", "--output", "--root", "--image", "--job-mode", "--kill-whom",
                                      "--kill-value", "--what", "--state", "--timestamp", "--reboot-argument", "--message",
                                      "--when", "--drop-in", "--preset-mode", "--image-policy", "--boot-loader-menu",
                                      "--boot-loader-entry", "--check-inhibitors", "--marked"]

    static func facts(_ args: [Field]) -> ToolFacts {
        var facts = ToolFacts()
        var words: [Field] = []
        var k = 0
        var optionsEnded = false
        while k < args.count {
            let f = args[k]
            k += 1
            guard let a = f.staticText else {
                facts.effectsKnown = false
                words.append(f)
                continue
            }
            if optionsEnded || !a.hasPrefix("-") || a == "-" { words.append(f); continue }
            if a == "--" { optionsEnded = true; continue }
            let name = String(a.prefix { $0 != "=" })
            if name == "--force" || (!a.hasPrefix("--") && a.dropFirst().contains("f")) { facts.effects.insert("force") }
            if name == "--isolate" { facts.effects.insert("isolate") }
            var value: Field? = a.contains("=") ? Field(text: String(a.drop { $0 != "=" }.dropFirst()), offset: f.offset) : nil
            if valued.contains(name) && value == nil && k < args.count {
                value = args[k]
                k += 1
            }
            if name == "--job-mode", let v = value, v.staticText.map({ $0 == "isolate" }) ?? true { facts.effects.insert("isolate") }
        }
        guard let verbField = words.first else { return facts }
        guard let verb = verbField.staticText else {
            facts.effects.formUnion(Set(verbEffects.values))
            return facts
        }
        if let e = verbEffects[verb] { facts.effects.insert(e) }
        guard startingVerbs.contains(verb) else { return facts }
        for unit in words.dropFirst() {
            guard let u = unit.staticText else {
                facts.effects.formUnion(Set(targetEffects.values))
                continue
            }
            // A unit without a suffix is a service; a glob may match any loaded unit.
            let named = u.contains(".") || u.contains(where: { "*?[".contains($0) }) ? u : u + ".service"
            if named.contains(where: { "*?[".contains($0) }), let g = try? Glob(named) {
                for (target, effect) in targetEffects where g.matches(target) { facts.effects.insert(effect) }
            } else if let effect = targetEffects[named] {
                facts.effects.insert(effect)
            }
        }
        return facts
    }
}
