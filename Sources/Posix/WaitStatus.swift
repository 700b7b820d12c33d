/// What `waitpid` reported, as jitsh counts it: a shell's exit status, 128 + the signal that
/// killed the process, or stopped.
public enum WaitStatus {
    public static func stopped(_ raw: Int32) -> Bool { raw & 0xff == 0x7f }

    /// The exit status, or 128 + the signal for a process killed by one.
    public static func code(_ raw: Int32) -> Int32 { raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f) }
}
