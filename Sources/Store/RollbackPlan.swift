/// What `jitsh rollback` would do, path by path: pure, from a session's images (all of them,
/// or one line's) and what is on disk now.
public struct RollbackPlan: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// As the line (or session) left it: it can go back.
        case ready
        /// Already as it was before: nothing to do.
        case alreadyBefore
        /// Changed again since: refused unless forced.
        case changedSince
    }

    public struct Item: Sendable, Equatable {
        public var path: String
        /// The first line of the range that changed it.
        public var line: Int
        /// What it goes back to (nil: it did not exist).
        public var before: FileImage?
        /// What the range left (nil: it was deleted).
        public var after: FileImage?
        public var current: FileImage?
        public var state: State
    }

    public var items: [Item]

    /// `images` in chain order; `current` gives what is at a path now (nil: nothing).
    public init(images: [SnapshotImage], current: (String) -> FileImage?) {
        var first: [String: SnapshotImage] = [:]
        var last: [String: SnapshotImage] = [:]
        var order: [String] = []
        for image in images {
            if first[image.path] == nil { first[image.path] = image; order.append(image.path) }
            last[image.path] = image
        }
        items = order.map { path in
            let before = first[path]!.before, after = last[path]!.after
            let now = current(path)
            let state: State
            if RollbackPlan.same(now, before) { state = .alreadyBefore } else if RollbackPlan.same(now, after) { state = .ready } else { state = .changedSince }
            return Item(path: path, line: first[path]!.line, before: before, after: after, current: now, state: state)
        }
    }

    static func same(_ a: FileImage?, _ b: FileImage?) -> Bool {
        switch (a, b) {
        case (nil, nil): return true
        case (let x?, let y?): return x.sameAs(y)
        default: return false
        }
    }

    public var refused: [Item] { items.filter { $0.state == .changedSince } }
}
