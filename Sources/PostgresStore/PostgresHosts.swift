import Crypto
import Foundation
import NIOCore
import PostgresNIO
import Store

/// The hosts of the fleet as the central store knows them: the role each connects as, the
/// public key each signs with, the tags each reported.
extension PostgresStore {
    /// The host this connection's role may write for (`jitsh fleet add-host`); nil for the
    /// database's owner or a role no admin mapped.
    public func mappedHost() throws -> String? {
        try connections.with { link in try Schema.decode(String?.self, link.query("SELECT jitsh_host()").first, 0) }
    }

    /// Registers this host's public key and, when they changed, its tags; returns what was new.
    public func register(host: String, tags: [String: String], key: Curve25519.Signing.PublicKey, at: Int64) throws -> (key: Bool, tags: Bool) {
        let tagText = String(decoding: try JSONSerialization.data(withJSONObject: tags, options: [.sortedKeys]), as: UTF8.self)
        return try connections.transaction { link in
            let keyRows = try link.query("""
                INSERT INTO host_keys (host, key_id, public_key, registered_at)
                VALUES (\(host), \(SigningKey.id(of: key)), \(ByteBuffer(bytes: Array(key.rawRepresentation))), \(at))
                ON CONFLICT (host, key_id) DO NOTHING RETURNING key_id
                """)
            let latest = try link.query("SELECT tags FROM host_tags WHERE host = \(host) ORDER BY id DESC LIMIT 1").first
            let changed = try latest.map { try $0[0].decode(String.self) } != tagText
            if changed {
                try link.query("INSERT INTO host_tags (host, tags, reported_at) VALUES (\(host), \(tagText), \(at))")
            }
            return (!keyRows.isEmpty, changed)
        }
    }

    /// The key `host` registered under `id`, if it did.
    public func hostKey(host: String, id: String) throws -> Curve25519.Signing.PublicKey? {
        try connections.with { link in
            guard let row = try link.query("SELECT public_key FROM host_keys WHERE host = \(host) AND key_id = \(id)").first else { return nil }
            return try? Curve25519.Signing.PublicKey(rawRepresentation: Self.bytes(row, 0))
        }
    }

    /// Every host that reported tags, with its latest ones.
    public func hostTags() throws -> [String: [String: String]] {
        try connections.with { link in
            var out: [String: [String: String]] = [:]
            for r in try link.query("SELECT DISTINCT ON (host) host, tags FROM host_tags ORDER BY host, id DESC") {
                let object = try JSONSerialization.jsonObject(with: Data(r[1].decode(String.self).utf8)) as? [String: String]
                out[try r[0].decode(String.self)] = object ?? [:]
            }
            return out
        }
    }

    /// What a host's connection may do that it must not: the append-only tables it could update
    /// or delete from, and whether row-level security is off on the ones it writes its own rows to.
    public func excessPrivileges() throws -> [String] {
        try connections.with { link in
            var out: [String] = []
            for table in Schema.appendOnly + Schema.appendOnlySince1 {
                let rows = try link.query("""
                    SELECT has_table_privilege(current_user, \(table), 'UPDATE'), has_table_privilege(current_user, \(table), 'DELETE'),
                           has_table_privilege(current_user, \(table), 'TRUNCATE')
                    """)
                let (u, d, t) = try (Schema.decode(Bool.self, rows.first, 0), Schema.decode(Bool.self, rows.first, 1), Schema.decode(Bool.self, rows.first, 2))
                let can = [u ? "update" : nil, d ? "delete" : nil, t ? "truncate" : nil].compactMap { $0 }
                if !can.isEmpty { out.append("it may \(can.joined(separator: ", ")) \(table)") }
            }
            let bypass = try link.query("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user").first
            if try Schema.decode(Bool?.self, bypass, 0) == true { out.append("its role \(connections.settings.location.role) bypasses row-level security (a superuser or BYPASSRLS)") }
            return out
        }
    }

    /// Whether this connection is encrypted (pg_stat_ssl of this backend).
    public func connectionIsEncrypted() throws -> Bool {
        try connections.with { link in
            try Schema.decode(Bool?.self, link.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").first, 0) ?? false
        }
    }
}

/// A host as the central store knows it: added by an admin (its role), registered by its init
/// or sync (its keys and tags), or both.
public struct FleetHost: Sendable, Equatable {
    public var name: String
    public var role: String?
    public var keys: [String]
    public var tags: [String: String]
}

extension PostgresStore {
    public func fleetHosts() throws -> [FleetHost] {
        let tags = try hostTags()
        return try connections.with { link in
            var hosts: [String: FleetHost] = [:]
            for r in try link.query("SELECT host, role::text FROM fleet_hosts") {
                let name = try r[0].decode(String.self)
                hosts[name] = FleetHost(name: name, role: try r[1].decode(String.self), keys: [], tags: tags[name] ?? [:])
            }
            for r in try link.query("SELECT host, key_id FROM host_keys ORDER BY registered_at") {
                let name = try r[0].decode(String.self)
                hosts[name, default: FleetHost(name: name, role: nil, keys: [], tags: tags[name] ?? [:])].keys.append(try r[1].decode(String.self))
            }
            for (name, t) in tags where hosts[name] == nil { hosts[name] = FleetHost(name: name, role: nil, keys: [], tags: t) }
            return hosts.values.sorted { $0.name < $1.name }
        }
    }
}
