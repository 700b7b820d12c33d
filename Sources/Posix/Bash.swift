/// How jitsh starts bash, for a job and for a dry run alike: no start-up files (they run outside
/// jitsh's sight), no history expansion (`!` means what the decision saw), extglob on (so
/// `rm !(keep)` parses the same in the dry run as in the job).
public enum Bash {
    public static let options = ["--noprofile", "--norc", "+H", "-O", "extglob"]

    /// A job: its script (prelude and line) comes on descriptor 4, so neither a long line nor a
    /// large carried variable meets the kernel's 128 KiB limit on one argument.
    public static let job = ["bash"] + options + ["-c", ". /dev/fd/4"]

    /// A command line given whole (a dry run's).
    public static func running(_ line: String) -> [String] { ["bash"] + options + ["-c", line] }
}
