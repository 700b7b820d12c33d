#ifndef JITSH_CSPAWN_H
#define JITSH_CSPAWN_H

#include <sys/types.h>

/// How to start a job. Everything between fork and exec happens in C, with async-signal-safe
/// calls only: the Swift runtime is multithreaded and must not run in a forked child.
typedef struct {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *cwd;
    /// Descriptors to become the child's 0, 1 and 2.
    int stdin_fd, stdout_fd, stderr_fd;
    /// Becomes the controlling terminal of the child's new session (-1: none).
    int ctty_fd;
    /// Becomes the child's descriptor 3 (-1: none).
    int extra_fd;
    /// Becomes the child's descriptor 4 (-1: none): the script bash sources.
    int script_fd;
    /// Start a new session (setsid).
    int new_session;
    /// PTRACE_TRACEME then stop, so a tracer sees the child from its first instruction.
    int trace;
    /// A Landlock ruleset to enforce (with no_new_privs) before exec (-1: none).
    int landlock_fd;
} jitsh_spawn_spec;

/// Forks and execs. Returns the child's pid, or -1 with *error set to the errno of what failed
/// (in the parent or, reported through a pipe, in the child before exec). With `trace`, the
/// child is stopped before exec and *pending_report is the pipe to read its failure from once
/// the tracer has let it continue (EOF: exec happened).
pid_t jitsh_spawn(const jitsh_spawn_spec *spec, int *error, int *pending_report);

/// A close-on-exec memory file holding `len` bytes, read from the start: a script of any size
/// for bash (an argument may hold 128 KiB at most). -1 with errno on failure.
int jitsh_script_fd(const char *bytes, size_t len);

/// Installs handlers that write the signal number as one byte to `fd` (SIGWINCH, SIGCHLD,
/// SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGALRM), and ignores SIGPIPE and SIGTTOU.
int jitsh_signals_install(int fd);

/// Opens a new pseudo-terminal; fills the master and slave descriptors (close-on-exec).
int jitsh_openpty(int *master, int *slave, unsigned short rows, unsigned short cols);

/// TIOCGWINSZ / TIOCSWINSZ.
int jitsh_get_winsize(int fd, unsigned short *rows, unsigned short *cols);
int jitsh_set_winsize(int fd, unsigned short rows, unsigned short cols);

/// Whether the terminal behind `fd` echoes input (a password prompt turns echo off).
int jitsh_echo_enabled(int fd);


/// The exec guard's tracer calls (ptrace is variadic in glibc, so Swift cannot call it).
int jitsh_trace_setoptions(pid_t pid);
int jitsh_trace_cont(pid_t pid, int sig);
long jitsh_trace_eventmsg(pid_t pid);
int jitsh_trace_is_group_stop(pid_t pid);
/// waitpid(pid, __WALL | __WNOTHREAD), retried on EINTR.
pid_t jitsh_wait_pid(pid_t pid, int *status);

/// The guard thread: it alone traces the jobs (ptrace requests must come from the tracer
/// thread), so it spawns them and waits for their stops. Called once on that thread: blocks
/// every signal in it but the kick (the session's thread keeps SIGCHLD, SIGHUP …) and
/// installs the kick's handler, which does nothing but interrupt a wait. Returns its thread id.
pid_t jitsh_guard_thread_enter(void);
/// Interrupts the guard thread's wait (tgkill with the kick signal).
int jitsh_guard_kick(pid_t thread);
/// waitpid(-1, __WALL | __WNOTHREAD): the stops and exits of this thread's tracees and children
/// only (the session's thread reaps its own). Blocks; -1 with EINTR when kicked.
pid_t jitsh_guard_wait(int *status);
/// The same without blocking (0: nothing pending), retried on EINTR.
pid_t jitsh_guard_poll(int *status);
/// SIGCHLD in a guarded session. `wake` 1: the self-pipe hears of children that exit, not of
/// stops (SA_NOCLDSTOP; the guard thread sees every stop of a job and says so itself), and a
/// SIGCHLD is written to it at once, for what exited while it was quiet. 0, while traced jobs
/// live: not at all (the default action), since each of their exits (one per fork and exec)
/// would wake the session's loop for nothing: the guard thread reaps them and tells the loop
/// of what it needs.
int jitsh_signals_child(int wake);

/// A ruleset that handles every write access and allows it beneath `paths` only (close-on-exec).
int jitsh_landlock_ruleset(const char *const *paths, int count, int *failed_index);

/// The real, effective and saved group ids (getresgid, which needs _GNU_SOURCE).
int jitsh_getresgid(gid_t *real, gid_t *effective, gid_t *saved);

/// Sets the calling thread's file-system group (returns the previous one). The raw system call
/// changes this thread alone; glibc's setegid would give every thread the group.
int jitsh_setfsgid(gid_t gid);

/// The job terminal's suspend key (Ctrl-Z) when it generates signals, else -1. Jobs run in a
/// session of their own, an orphaned process group to which the kernel never delivers SIGTSTP:
/// jitsh stops them itself.
int jitsh_suspend_char(int fd);

/// The signal the job terminal's line discipline would send for key `c` (VINTR: SIGINT, VQUIT:
/// SIGQUIT) when it generates signals, else 0.
int jitsh_signal_for_key(int fd, unsigned char c);

/// The foreground process group of the terminal behind master `fd`, or -1.
pid_t jitsh_foreground_group(int fd);
/// Installs the job filter (seccomp, with no_new_privs) in the calling process: every refused
/// system call and why is listed in seccomp.c. Called in a traced job's child before its exec.
int jitsh_job_filter_install(void);
/// The event message of the seccomp stop for a clone that asked not to be traced.
#define JITSH_SECCOMP_UNTRACED_CLONE 1

/// Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER).
int jitsh_become_subreaper(void);

/// The session's whole family: fills `pids` (and each one's parent in `parents`) with up to
/// `capacity` descendants of this process (children of every thread, then theirs), read from
/// /proc/PID/task/TID/children, or from a scan of /proc/*/stat where that file does not exist.
/// Returns how many were found.
int jitsh_descendants(pid_t *pids, pid_t *parents, int capacity);

/* jitsh doctor's kernel probes. */
#include "probe.h"

#endif
