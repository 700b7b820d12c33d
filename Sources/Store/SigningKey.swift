import Crypto
import Foundation
import Posix

/// The host's Ed25519 key: it signs the head of each session's hash chain, so a recording
/// cannot be altered or cut short without `jitsh sessions verify` saying so.
public struct SigningKey: Sendable {
    public let privateKey: Curve25519.Signing.PrivateKey

    public init(privateKey: Curve25519.Signing.PrivateKey) { self.privateKey = privateKey }

    public var publicKey: Curve25519.Signing.PublicKey { privateKey.publicKey }

    /// A short, stable name for the key: the first 8 bytes of SHA-256 of the public key, in hex.
    public var id: String { SigningKey.id(of: publicKey) }

    public static func id(of key: Curve25519.Signing.PublicKey) -> String {
        // Not String(format:): its variadic arguments are looked up at run time, which costs a
        // session start more than the rest of the key's handling.
        Hex.encode(Array(SHA256.hash(data: key.rawRepresentation).prefix(8)))
    }

    public struct KeyError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Reads the key file (base64 of the 32-byte seed).
    public static func load(_ path: String) throws -> SigningKey {
        guard let data = JitshGroup.raised(.signingKey, { FileManager.default.contents(atPath: path) }) else {
            throw KeyError(description: "cannot read the signing key \(path); run jitsh init as root (or check its group: jitsh)")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let raw = Data(base64Encoded: text), let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
            throw KeyError(description: "the signing key \(path) is not an Ed25519 key")
        }
        return SigningKey(privateKey: key)
    }

    /// Writes a new key, readable by the owner and group only.
    public static func create(_ path: String) throws -> SigningKey {
        let key = Curve25519.Signing.PrivateKey()
        let text = key.rawRepresentation.base64EncodedString() + "\n"
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o640]) else {
            throw KeyError(description: "cannot write the signing key \(path)")
        }
        return SigningKey(privateKey: key)
    }

    public func sign(_ message: Data) throws -> Data {
        try privateKey.signature(for: message)
    }

    public static func verify(_ signature: Data, of message: Data, with key: Curve25519.Signing.PublicKey) -> Bool {
        key.isValidSignature(signature, for: message)
    }
}
