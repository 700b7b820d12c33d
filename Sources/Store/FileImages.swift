import Foundation
import ShellSyntax

/// A watched path as it was at one moment: what it is, its mode and owner, and for a file the
/// SHA-256 of its content (the content itself is stored once per session under that digest).
public struct FileImage: Sendable, Equatable {
    public enum Kind: String, Sendable { case file, directory, symlink }

    public var kind: Kind
    /// Permission bits with setuid, setgid and sticky (`st_mode & 0o7777`).
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: Int
    /// Hex SHA-256 of a file's content; empty for directories and symbolic links.
    public var digest: String
    /// A symbolic link's target, as stored in the link (never followed).
    public var link: String

    public init(kind: Kind, mode: UInt32, uid: UInt32, gid: UInt32, size: Int = 0, digest: String = "", link: String = "") {
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.digest = digest
        self.link = link
    }

    /// `0644`.
    public var octalMode: String {
        let s = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    var json: JSONText {
        .object(["kind": .string(kind.rawValue), "mode": .int(Int(mode)), "uid": .int(Int(uid)), "gid": .int(Int(gid)),
                 "size": .int(size), "digest": .string(digest), "link": .string(link)])
    }

    /// The image as stored (and hashed) in every back end.
    public var jsonText: String { json.text }

    public init?(json text: String) {
        guard !text.isEmpty, let o = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let kind = (o["kind"] as? String).flatMap(Kind.init(rawValue:)), let mode = o["mode"] as? Int, let uid = o["uid"] as? Int,
              let gid = o["gid"] as? Int else { return nil }
        self.init(kind: kind, mode: UInt32(mode), uid: UInt32(uid), gid: UInt32(gid), size: o["size"] as? Int ?? 0,
                  digest: o["digest"] as? String ?? "", link: o["link"] as? String ?? "")
    }

    /// The same thing on disk, whatever its size says (the digest decides for files).
    public func sameAs(_ other: FileImage) -> Bool {
        kind == other.kind && mode == other.mode && uid == other.uid && gid == other.gid && digest == other.digest && link == other.link
    }
}

/// What one line did to one watched path.
public struct FileChange: Sendable, Equatable {
    public enum Kind: String, Sendable { case created, modified, deleted, attributes = "mode/owner changed" }

    public var path: String
    public var before: FileImage?
    public var after: FileImage?

    public init(path: String, before: FileImage?, after: FileImage?) {
        self.path = path
        self.before = before
        self.after = after
    }

    public var kind: Kind {
        guard let before else { return .created }
        guard let after else { return .deleted }
        return before.kind == after.kind && before.digest == after.digest && before.link == after.link ? .attributes : .modified
    }

    /// Pure: every path whose image differs between two states, in path order.
    public static func between(_ before: [String: FileImage], _ after: [String: FileImage]) -> [FileChange] {
        var out: [FileChange] = []
        for path in Set(before.keys).union(after.keys).sorted() {
            let b = before[path], a = after[path]
            if let b, let a, b.sameAs(a) { continue }
            out.append(FileChange(path: path, before: b, after: a))
        }
        return out
    }

    /// `modified /etc/nginx/nginx.conf (+1 −1 lines)`, `mode/owner changed /etc/x (0644 → 0600)`.
    public func summary(added: Int? = nil, removed: Int? = nil) -> String {
        var text = "\(kind.rawValue) \(Visible.text(path))"
        var details: [String] = []
        if let a = added, let r = removed { details.append("+\(a) −\(r) lines") }
        if let b = before, let a = after {
            if b.kind != a.kind { details.append("\(b.kind.rawValue) → \(a.kind.rawValue)") }
            if b.mode != a.mode { details.append("mode \(b.octalMode) → \(a.octalMode)") }
            if b.uid != a.uid || b.gid != a.gid { details.append("owner \(b.uid):\(b.gid) → \(a.uid):\(a.gid)") }
            if added == nil, kind == .modified, a.kind == .file { details.append("binary, \(b.size) → \(a.size) bytes") }
        } else if let image = after ?? before {
            details.append(image.kind == .file ? "\(image.kind.rawValue), \(image.size) bytes" : image.kind.rawValue)
        }
        return details.isEmpty ? text : text + " (" + details.joined(separator: ", ") + ")"
    }
}

/// What the recording and the audit log say of one line's changes: a summary line a path and a
/// unified diff of the text files, bounded so the marker stays one frame.
public struct SnapshotReport: Sendable, Equatable {
    public var summaries: [String]
    public var diff: String

    /// Diff text kept in a marker at most; the rest is cut with a note (the images keep all).
    public static let maxDiff = 12 << 10
    static let maxListed = 50

    /// Pure: `contents` holds the bytes of every digest the changes name.
    public static func build(_ changes: [FileChange], contents: [String: [UInt8]], maxDiff: Int = SnapshotReport.maxDiff) -> SnapshotReport {
        var summaries: [String] = []
        var diff = ""
        var cut = false
        for c in changes {
            let old = c.before?.kind == .file ? contents[c.before!.digest] ?? [] : []
            let new = c.after?.kind == .file ? contents[c.after!.digest] ?? [] : []
            let textual = (c.before?.kind ?? .file) == .file && (c.after?.kind ?? .file) == .file && c.kind != .attributes
                && UnifiedDiff.isText(old) && UnifiedDiff.isText(new)
            let result = textual ? UnifiedDiff.diff(old, new) : nil
            if summaries.count < maxListed { summaries.append(c.summary(added: result?.added, removed: result?.removed)) }
            guard let result, !result.hunks.isEmpty, !cut else { continue }
            let piece = "--- \(c.before == nil ? "/dev/null" : "a" + c.path)\n+++ \(c.after == nil ? "/dev/null" : "b" + c.path)\n" + result.hunks
            if diff.utf8.count + piece.utf8.count > maxDiff {
                diff += "… the diff is cut here (\(changes.count) changes; jitsh rollback --dry-run shows each)\n"
                cut = true
            } else {
                diff += piece
            }
        }
        if changes.count > maxListed { summaries.append("… and \(changes.count - maxListed) more changes") }
        return SnapshotReport(summaries: summaries, diff: diff)
    }
}
