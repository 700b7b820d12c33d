import ShellSyntax

/// Markup whose interpolated strings are escaped by construction: `"<td>\(line)</td>"` as HTML
/// shows a recorded `<script>` as text, and control characters as `\e`, never acted on. Only
/// another `HTML` value goes in as markup, so a page cannot forget to escape. Pure.
public struct HTML: Sendable, Equatable, CustomStringConvertible, ExpressibleByStringInterpolation {
    public private(set) var text: String

    public init(raw: String) { text = raw }
    public init(stringLiteral value: String) { text = value }
    public init(stringInterpolation: Interpolation) { text = stringInterpolation.text }
    public var description: String { text }

    public struct Interpolation: StringInterpolationProtocol {
        var text = ""
        public init(literalCapacity: Int, interpolationCount: Int) { text.reserveCapacity(literalCapacity * 2) }
        public mutating func appendLiteral(_ literal: String) { text += literal }
        /// User text: control characters made visible, then escaped for an element or an attribute.
        public mutating func appendInterpolation(_ value: String) { text += HTML.escape(Visible.text(value)) }
        /// Text whose newlines are its own (a multi-line reason), shown in a `<pre>`.
        public mutating func appendInterpolation(lines value: String) { text += HTML.escape(Visible.lines(value)) }
        public mutating func appendInterpolation(_ value: HTML) { text += value.text }
        public mutating func appendInterpolation(_ values: [HTML]) { for v in values { text += v.text } }
        public mutating func appendInterpolation<N: BinaryInteger>(_ value: N) { text += String(value) }
    }

    static let replacements: [Character: String] = ["&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"]

    public static func escape(_ s: String) -> String {
        guard s.contains(where: { replacements[$0] != nil }) else { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 16)
        for c in s { out += replacements[c] ?? String(c) }
        return out
    }

    public static func + (a: HTML, b: HTML) -> HTML { HTML(raw: a.text + b.text) }
}

/// `application/x-www-form-urlencoded`, for query strings and form posts. Pure.
public enum FormData {
    public static func parse(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = decode(parts[0])
            if out[key] == nil { out[key] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return out
    }

    static func decode(_ s: Substring) -> String {
        var bytes: [UInt8] = []
        var k = s.utf8.startIndex
        let u = s.utf8
        while k < u.endIndex {
            let b = u[k]
            if b == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else if b == UInt8(ascii: "%"), let h = u.index(k, offsetBy: 1, limitedBy: u.endIndex), h < u.endIndex,
                      let l = u.index(h, offsetBy: 1, limitedBy: u.endIndex), l < u.endIndex,
                      let hi = hex(u[h]), let lo = hex(u[l]) {
                bytes.append(hi << 4 | lo)
                k = l
            } else {
                bytes.append(b)
            }
            k = u.index(after: k)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case 48...57: return b - 48
        case 65...70: return b - 55
        case 97...102: return b - 87
        default: return nil
        }
    }

    /// A query string from pairs, empty values left out.
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.filter { !$0.1.isEmpty }.map { "\(component($0.0))=\(component($0.1))" }.joined(separator: "&")
    }

    public static func component(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(b)))
            default:
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
