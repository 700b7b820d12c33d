import Foundation
import Policy

/// Reads a policy directory from disk (the pure loader takes files as values).
enum PolicyDirectory {
    static let defaultPath = "/etc/jitsh/policies"

    struct ReadError: Error, CustomStringConvertible {
        var description: String
    }

    /// policy.yaml, roles/*, contracts/*, tests/* — YAML files only, paths relative to `root`.
    static func read(_ root: String) throws -> [PolicyFile] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ReadError(description: "policy directory \(root) does not exist; give one with --policy-dir")
        }
        var files: [PolicyFile] = []
        for relative in ["", "roles", "contracts", "tests"] {
            let dir = relative.isEmpty ? root : root + "/" + relative
            guard let names = try? fm.contentsOfDirectory(atPath: dir) else { continue }
            for name in names.sorted() where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
                let path = relative.isEmpty ? name : relative + "/" + name
                guard let data = fm.contents(atPath: root + "/" + path) else {
                    throw ReadError(description: "cannot read \(root)/\(path)")
                }
                guard let text = String(data: data, encoding: .utf8) else {
                    throw ReadError(description: "\(root)/\(path) is not UTF-8 text")
                }
                files.append(PolicyFile(path: path, text: text))
            }
        }
        return files
    }

    static func load(_ root: String) throws -> Policy {
        let files = try read(root).filter { !$0.path.hasPrefix("tests/") }
        return try PolicyLoader.load(files)
    }
}

/// Local time from the system's zone database, for time windows.
struct SystemZones: TimeZoneResolver {
    func localTime(epochSeconds: Int64, zone: String) -> LocalTime? {
        guard let tz = TimeZone(identifier: zone) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = tz
        let date = Date(timeIntervalSince1970: TimeInterval(epochSeconds))
        let c = calendar.dateComponents([.weekday, .hour, .minute], from: date)
        guard let weekday = c.weekday, let hour = c.hour, let minute = c.minute else { return nil }
        // Calendar counts Sunday as 1; LocalTime counts Monday as 0.
        return LocalTime(weekday: (weekday + 5) % 7, minute: hour * 60 + minute)
    }
}
