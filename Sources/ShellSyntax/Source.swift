/// A place in the line as a person reads it: 1-based line and column (columns count characters).
public struct Position: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var offset: Int
    public var line: Int
    public var column: Int

    public init(offset: Int, line: Int, column: Int) {
        self.offset = offset
        self.line = line
        self.column = column
    }

    public static func < (a: Position, b: Position) -> Bool { a.offset < b.offset }
    public var description: String { "\(line):\(column)" }
}

/// Turns byte offsets into line and column, counting columns in Unicode scalars.
public struct SourceLocator: Sendable {
    private let bytes: [UInt8]
    private let lineStarts: [Int]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        var starts = [0]
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") { starts.append(i + 1) }
        lineStarts = starts
    }

    public func position(_ offset: Int) -> Position {
        let clamped = max(0, min(offset, bytes.count))
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= clamped { lo = mid } else { hi = mid - 1 }
        }
        var column = 1
        for i in lineStarts[lo]..<clamped where bytes[i] & 0xC0 != 0x80 { column += 1 }
        return Position(offset: clamped, line: lo + 1, column: column)
    }
}

public struct Limits: Sendable, Equatable {
    /// Lines longer than this are refused before parsing.
    public var maxBytes: Int
    /// Nesting of compound commands, substitutions and `bash -c` strings.
    public var maxDepth: Int

    public init(maxBytes: Int = 64 * 1024, maxDepth: Int = 64) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
    }

    public static let `default` = Limits()
}

public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var position: Position
    public var message: String
    /// The line ended while a construct was still open (a quote, `if` without `fi`, a trailing
    /// `|`): an interactive editor asks for a continuation line instead of reporting an error.
    public var incomplete: Bool

    public init(position: Position, message: String, incomplete: Bool = false) {
        self.position = position
        self.message = message
        self.incomplete = incomplete
    }

    public var description: String { "\(position): \(message)" }
}
