import CSpawn
#if canImport(Glibc)
import Glibc
#endif

/// jitsh is installed setgid `jitsh`: the group reaches the store and the host's secrets, the
/// person running jitsh must not. The executable drops it first thing (`dropAtStart`); from then
/// on the process has the person's own groups, and the group comes back only inside `raised`,
/// for one of the needs listed here, and only for the thread that asked: it is the thread's
/// file-system group that is raised, so the recorder's thread checking the store's file gives
/// nothing to the loop completing a path at the same moment. Globbing, completion, dry-run walks, the guard's `/proc`
/// reads and files a person names on the command line run as that person because nothing else
/// is possible, not because each of them remembered to lower the group.
///
/// This enum is the list of what needs the group, and why.
public enum JitshGroup {
    public enum Need: String, Sendable, CaseIterable {
        /// jitsh.yaml is root:jitsh 0640: it may name a webhook secret and where the store's
        /// password is.
        case configuration
        /// The store's directory is root:jitsh 0770: the SQLite file with its `-wal` and `-shm`,
        /// opened once (one connection, so nothing opens a file later), and the check that the
        /// file was not replaced while in use.
        case store
        /// A session whose store went away leaves its signed end beside it (`ends/`, 0770), for
        /// `sessions verify` to name; review commands read it there.
        case endNote
        /// Root's compiled policy cache lives beside the store.
        case policyCache
        /// The Ed25519 key that signs recordings, root:jitsh 0640.
        case signingKey
        /// The fleet store's password file, client key and CA, root:jitsh 0640.
        case storeCredentials
    }

    /// Whether this process can take the group back: set-group-ID left it in the saved group.
    /// True for the setgid jitsh started by a person, before and after `dropAtStart`.
    public static var isHeld: Bool {
        let (real, _, saved) = ids()
        return saved != real
    }

    /// The group set-group-ID gave this process (the saved one).
    public static var gid: gid_t { ids().saved }

    /// Whether the group is in effect for this thread now (outside `raised` it never is once dropped).
    public static var isRaised: Bool {
        let real = getgid()
        // setfsgid with an id it refuses changes nothing and returns the current one.
        return getegid() != real || gid_t(jitsh_setfsgid(gid_t.max)) != real
    }

    /// The effective group becomes the real one; the saved set-group-ID keeps jitsh's, so
    /// `raised` can take it again. False when the kernel refused (the caller refuses to go on).
    @discardableResult
    public static func dropAtStart() -> Bool {
        let real = getgid()
        guard getegid() != real else { return true }
        return setegid(real) == 0 && getegid() == real
    }

    /// Runs `body` with the jitsh group in effect for this thread's file access, for `need`,
    /// then lowers it again (to what it was: a nested call leaves it raised for its caller).
    /// Without a saved group (root, tests, the web app's account) this is just `body()`. If the
    /// kernel refuses, `body` runs as the person and whatever it opens fails with their
    /// permissions: closed, never open.
    public static func raised<T, E: Error>(_ need: Need, _ body: () throws(E) -> T) throws(E) -> T {
        let (real, _, saved) = ids()
        guard saved != real else { return try body() }
        let previous = jitsh_setfsgid(saved)
        defer { _ = jitsh_setfsgid(gid_t(previous)) }
        return try body()
    }

    static func ids() -> (real: gid_t, effective: gid_t, saved: gid_t) {
        var r: gid_t = 0, e: gid_t = 0, s: gid_t = 0
        guard jitsh_getresgid(&r, &e, &s) == 0 else { return (getgid(), getegid(), getegid()) }
        return (r, e, s)
    }
}
