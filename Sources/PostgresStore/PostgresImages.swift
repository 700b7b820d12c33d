import Foundation
import NIOCore
import PostgresNIO
import Store

/// The images of watched files (`snapshot:`) in the central store: shipped from each host's
/// spool with the recording whose snapshot markers name them, so the central store verifies
/// them as the spool does, and keeps them when the spool prunes.
extension PostgresStore: SnapshotImageReader {
    public func images(session id: String, line: Int?) throws -> [SnapshotImage] {
        try connections.with { link in
            let rows = try line.map { line in
                try link.query("""
                    SELECT session_id, seq, line, at, path, before, after, prev_hash, hash FROM snapshot_images
                    WHERE session_id = \(id) AND line = \(Int64(line)) ORDER BY seq
                    """)
            } ?? link.query("""
                SELECT session_id, seq, line, at, path, before, after, prev_hash, hash FROM snapshot_images
                WHERE session_id = \(id) ORDER BY seq
                """)
            return try rows.map { r in
                var image = try SnapshotImage(sessionID: r[0].decode(String.self), seq: r[1].decode(Int64.self), line: Int(r[2].decode(Int64.self)),
                                              at: r[3].decode(Int64.self), path: r[4].decode(String.self),
                                              before: FileImage(json: r[5].decode(String.self)), after: FileImage(json: r[6].decode(String.self)),
                                              previousHash: Self.bytes(r, 7))
                // The stored hash: verification compares it with the recomputed one.
                image.hash = try Self.bytes(r, 8)
                return image
            }
        }
    }

    public func imageContent(session id: String, digest: String) throws -> [UInt8]? {
        try connections.with { link in
            try link.query("SELECT size, data FROM snapshot_contents WHERE session_id = \(id) AND digest = \(digest)").first.map { r in
                try SnapshotContent(sessionID: id, digest: digest, size: Int(r[0].decode(Int64.self)), deflated: Self.bytes(r, 1))
            }
        }?.bytes
    }

    /// Inside `receive`'s transaction: an image sent twice is stored once (the same hash, or
    /// a conflict), a content named twice once.
    static func receive(images: [SnapshotImage], contents: [SnapshotContent], _ link: Link) throws {
        for c in contents {
            try link.query("""
                INSERT INTO snapshot_contents (session_id, digest, size, data)
                VALUES (\(c.sessionID), \(c.digest), \(Int64(c.size)), \(ByteBuffer(bytes: c.deflated)))
                ON CONFLICT (session_id, digest) DO NOTHING
                """)
        }
        for i in images {
            let inserted = try link.query("""
                INSERT INTO snapshot_images (session_id, seq, line, at, path, before, after, prev_hash, hash)
                VALUES (\(i.sessionID), \(i.seq), \(Int64(i.line)), \(i.at), \(i.path), \(i.before?.jsonText ?? ""), \(i.after?.jsonText ?? ""),
                        \(ByteBuffer(bytes: i.previousHash)), \(ByteBuffer(bytes: i.hash)))
                ON CONFLICT (session_id, seq) DO NOTHING RETURNING seq
                """)
            if inserted.isEmpty {
                let stored = try link.query("SELECT hash FROM snapshot_images WHERE session_id = \(i.sessionID) AND seq = \(i.seq)")
                guard try bytes(stored.first, 0) == i.hash else {
                    throw StoreError(.conflict, "the store refused a change: snapshot image \(i.seq) of session \(i.sessionID) is stored with other content")
                }
            }
        }
    }
}
