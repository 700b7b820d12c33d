import Crypto
import CryptoExtras
import Foundation

/// What an admin runs to add a host to the fleet: a login role of its own, in jitsh_hosts (read,
/// insert; never update or delete), mapped to the host's name so row-level security lets it write
/// only that host's rows. The password leaves the host only as a SCRAM verifier.
public struct Enrolment: Sendable {
    public var host: String
    public var role: String
    public var database: String
    /// `SCRAM-SHA-256$…`, or nil for a role that signs in with a client certificate.
    public var verifier: String?

    public struct Refusal: Error, CustomStringConvertible { public var description: String }

    /// Host names as jitsh.yaml gives them; roles as PostgreSQL takes them unquoted.
    public init(host: String, role: String?, database: String, verifier: String?) throws(Refusal) {
        guard !host.isEmpty, host.utf8.count <= 253, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) }) else {
            throw Refusal(description: "host name \(host.debugDescription): use letters, digits, '-', '.' and '_' (as in jitsh.yaml's host: name)")
        }
        let role = role ?? Self.role(for: host)
        guard let first = role.first, first.isLetter || first == "_", role.utf8.count <= 63,
              role.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }) else {
            throw Refusal(description: "role \(role.debugDescription): lowercase letters, digits and '_', at most 63, not starting with a digit")
        }
        guard !database.isEmpty, database.utf8.count <= 63, database.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw Refusal(description: "database \(database.debugDescription): letters, digits and '_'")
        }
        (self.host, self.role, self.database, self.verifier) = (host, role, database, verifier)
    }

    /// prod-1.example → jitsh_prod_1_example
    public static func role(for host: String) -> String {
        String(("jitsh_" + host.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()).prefix(63))
    }

    /// One transaction, repeatable: a second run changes the password and keeps the mapping.
    public var sql: String {
        let login = verifier.map { "LOGIN PASSWORD '\($0)'" } ?? "LOGIN"
        return """
            -- Adds host \(host) to the jitsh fleet: run as the owner of database \(database), e.g.
            --   psql -v ON_ERROR_STOP=1 -d \(database) -f add-\(host).sql
            BEGIN;
            DO $jitsh$
            BEGIN
                -- Roles belong to the cluster: another database's enrolment may create it meanwhile.
                BEGIN
                    CREATE ROLE \(role) \(login);
                EXCEPTION WHEN duplicate_object OR unique_violation THEN
                    ALTER ROLE \(role) \(login);
                END;
            END $jitsh$;
            GRANT jitsh_hosts TO \(role);
            GRANT CONNECT ON DATABASE \(database) TO \(role);
            INSERT INTO fleet_hosts (role, host) VALUES ('\(role)', '\(host)')
                ON CONFLICT (role) DO UPDATE SET host = excluded.host;
            COMMIT;
            """ + (verifier == nil ? """

                -- The role has no password: let it sign in with a client certificate whose CN is \(role),
                -- with a pg_hba.conf line such as:  hostssl \(database) \(role) 0.0.0.0/0 cert
                """ : "")
    }

    /// PostgreSQL's stored form of a SCRAM-SHA-256 password (RFC 5802, 7677), so the SQL an admin
    /// sees and runs never holds the password itself.
    public static func scramVerifier(password: String, salt: [UInt8], iterations: Int = 4096) throws -> String {
        // PostgreSQL's own count (scram_iterations). The library asks for 210,000 rounds, which
        // protect a password people choose; this one is 24 random bytes, found by no search.
        let salted = try KDF.Insecure.PBKDF2.deriveKey(from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: 32,
                                                       unsafeUncheckedRounds: iterations)
        let clientKey = Data(HMAC<SHA256>.authenticationCode(for: Data("Client Key".utf8), using: salted))
        let storedKey = Data(SHA256.hash(data: clientKey))
        let serverKey = Data(HMAC<SHA256>.authenticationCode(for: Data("Server Key".utf8), using: salted))
        return "SCRAM-SHA-256$\(iterations):\(Data(salt).base64EncodedString())$\(storedKey.base64EncodedString()):\(serverKey.base64EncodedString())"
    }
}
