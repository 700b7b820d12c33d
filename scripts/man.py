#!/usr/bin/env python3
"""Writes jitsh(1), an mdoc page, from the help every command already carries.

Usage: scripts/man.py JITSH_BINARY OUTPUT_FILE

swift-argument-parser's generate-manual plugin would build every product a second time; this reads
`jitsh --experimental-dump-help` (the same JSON the plugin reads) from the binary being installed.
"""
import datetime
import json
import os
import subprocess
import sys

EXIT_STATUS = [
    ("0", "allowed (check), the command's own status (forced command), all checks passed (doctor)."),
    ("1", "denied (check), refused: no live grant or a setup error (forced command), a check failed (doctor)."),
    ("2", "needs confirmation (check)."),
    ("3", "usage, syntax or policy error."),
    ("126", "a line denied in exec mode (ssh host 'cmd')."),
]

FILES = [
    ("/etc/jitsh/jitsh.yaml", "the host configuration: store, policies, host name and tags, webhook, signing key."),
    ("/etc/jitsh/policies", "roles, access contracts and policy.yaml."),
    ("/var/lib/jitsh/jitsh.db", "the store: grants, sessions, recordings, audit events (root:jitsh 0770 directory)."),
    ("/var/lib/jitsh/signing.key", "the Ed25519 key that signs recordings (readable by group jitsh only)."),
    ("/etc/ssh/sshd_config.d/jitsh.conf", "the sshd drop-in that makes jitsh the forced command (make install ENABLE_SSHD=1)."),
]


def ascii(text):
    """troff reads ASCII: other characters become named Unicode escapes."""
    return "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text)


def escape(text):
    """Text for an mdoc text line: backslashes escaped, no line may start with a control character."""
    out = []
    for line in ascii(text.replace("\\", "\\e")).split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        out.append(line)
    return "\n".join(out)


def quoted(arg):
    """One argument of a macro line."""
    return '"' + ascii(arg.replace("\\", "\\e")).replace('"', '\\(dq') + '"'


def prose(text):
    """A discussion: paragraphs, with indented lines (examples) kept literal."""
    lines = []
    for paragraph in text.strip().split("\n\n"):
        literal = []
        plain = []
        for line in paragraph.split("\n"):
            if line.startswith("  "):
                if plain:
                    lines += [".Pp", escape(" ".join(plain))]
                    plain = []
                literal.append(line[2:])
            else:
                if literal:
                    lines += [".Bd -literal -offset indent", escape("\n".join(literal)), ".Ed"]
                    literal = []
                plain.append(line)
        if plain:
            lines += [".Pp", escape(" ".join(plain))]
        if literal:
            lines += [".Bd -literal -offset indent", escape("\n".join(literal)), ".Ed"]
    return lines


def flag_name(name):
    """The argument of mdoc's Fl, which writes one dash itself."""
    return "-" + name["name"] if name["kind"] == "long" else name["name"]


def visible(command):
    return [a for a in command.get("arguments", []) if a.get("shouldDisplay", True)
            and a.get("preferredName", {}).get("name") not in ("help", "version")]


def synopsis(path, command):
    parts = [".Nm"] + ([f".Cm {' '.join(path[1:])}"] if len(path) > 1 else [])
    for a in visible(command):
        if a["kind"] == "positional":
            item = f"Ar {a.get('valueName', 'value')}"
        else:
            item = f"Fl {flag_name(a['preferredName'])}"
            if a["kind"] == "option":
                item += f" Ar {a.get('valueName', 'value')}"
        if a.get("isRepeating"):
            item += " Ar ..."
        parts.append(f".Op {item}" if a.get("isOptional") else f".{item}")
    return parts


def arguments(command):
    args = visible(command)
    if not args:
        return []
    lines = [".Bl -tag -width 6n"]
    for a in args:
        if a["kind"] == "positional":
            head = f".It Ar {a.get('valueName', 'value')}"
        else:
            head = ".It " + " , ".join(f"Fl {flag_name(n)}" for n in a.get("names", []))
            if a["kind"] == "option":
                head += f" Ar {a.get('valueName', 'value')}"
        lines.append(head)
        text = a.get("abstract", "")
        if a.get("defaultValue"):
            text += f" (default: {a['defaultValue']})"
        lines.append(escape(text))
        if a.get("discussion"):
            lines += prose(a["discussion"])
    return lines + [".El"]


def commands(path, command):
    lines = []
    for sub in command.get("subcommands", []):
        if sub["commandName"] == "help" or not sub.get("shouldDisplay", True):
            continue
        full = path + [sub["commandName"]]
        lines += [f".Ss {quoted(' '.join(full))}", ".Bd -ragged"]
        lines += synopsis(full, sub)
        lines += [".Ed", ".Pp", escape(sub.get("abstract", ""))]
        if sub.get("discussion"):
            lines += prose(sub["discussion"])
        lines += arguments(sub)
        lines += commands(full, sub)
    return lines


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: scripts/man.py JITSH_BINARY OUTPUT_FILE")
    binary, output = sys.argv[1], sys.argv[2]
    dump = subprocess.run([binary, "--experimental-dump-help"], check=True, capture_output=True, text=True).stdout
    root = json.loads(dump)["command"]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", datetime.datetime.now(datetime.timezone.utc).timestamp()))
    date = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%B %-d, %Y")
    lines = [
        f'.\\" Generated by scripts/man.py from {os.path.basename(binary)} --experimental-dump-help; do not edit.',
        f".Dd {date}", ".Dt JITSH 1", ".Os",
        ".Sh NAME", ".Nm jitsh", f".Nd {escape(root.get('abstract', ''))}",
        ".Sh SYNOPSIS",
        ".Nm", ".Op Fl -as Ar name", ".Op Fl -config Ar path",
        ".Nm", ".Ar command", ".Op Ar arguments",
        ".Sh DESCRIPTION",
    ]
    lines += prose(root.get("discussion", ""))
    lines += [".Sh COMMANDS"] + commands(["jitsh"], root)
    lines += [".Sh EXIT STATUS", ".Bl -tag -width 6n"]
    for code, meaning in EXIT_STATUS:
        lines += [f".It {code}", escape(meaning)]
    lines += [".El", ".Sh FILES", ".Bl -tag -width 6n"]
    for path, meaning in FILES:
        lines += [f".It Pa {path}", escape(meaning)]
    lines += [".El", ".Sh SEE ALSO", ".Xr sshd_config 5 ,", ".Xr sshd 8 ,", ".Xr ssh 1"]
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    with open(output + ".new", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(output + ".new", output)


if __name__ == "__main__":
    main()
