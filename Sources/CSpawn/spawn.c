#define _GNU_SOURCE
#include "cspawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <pthread.h>
#include <termios.h>
#include <unistd.h>

static void child_fail(int report_fd, int what) {
    int e = what;
    ssize_t ignored = write(report_fd, &e, sizeof e);
    (void)ignored;
    _exit(127);
}

/* Moves `fd` above 9 so that dup2 onto 0..3 cannot clobber a source still needed. */
static int lift(int fd) {
    if (fd < 0) return fd;
    return fcntl(fd, F_DUPFD, 10);
}

pid_t jitsh_spawn(const jitsh_spawn_spec *s, int *error, int *pending_report) {
    *pending_report = -1;
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        *error = errno;
        return -1;
    }
    sigset_t all, old;
    sigfillset(&all);
    /* No signal handler of the parent may run in the child between fork and exec. */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        for (int sig = 1; sig < NSIG; sig++) {
            if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* If jitsh dies (even by SIGKILL), its job must not outlive it unrecorded. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(report[1], errno);
        if (s->new_session && setsid() < 0) child_fail(report[1], errno);
        if (s->ctty_fd >= 0 && ioctl(s->ctty_fd, TIOCSCTTY, 0) != 0) child_fail(report[1], errno);
        int in = lift(s->stdin_fd), out = lift(s->stdout_fd), err = lift(s->stderr_fd), extra = lift(s->extra_fd);
        int script = lift(s->script_fd);
        if ((s->stdin_fd >= 0 && in < 0) || (s->stdout_fd >= 0 && out < 0) || (s->stderr_fd >= 0 && err < 0) ||
            (s->extra_fd >= 0 && extra < 0) || (s->script_fd >= 0 && script < 0))
            child_fail(report[1], errno);
        if (in >= 0 && dup2(in, 0) < 0) child_fail(report[1], errno);
        if (out >= 0 && dup2(out, 1) < 0) child_fail(report[1], errno);
        if (err >= 0 && dup2(err, 2) < 0) child_fail(report[1], errno);
        if (extra >= 0 && dup2(extra, 3) < 0) child_fail(report[1], errno);
        if (script >= 0 && dup2(script, 4) < 0) child_fail(report[1], errno);
        int keep = script >= 0 ? 5 : extra >= 0 ? 4 : 3;
        /* Keep the report pipe (close-on-exec) until exec; close everything else. */
        int moved = fcntl(report[1], F_DUPFD_CLOEXEC, 1000);
        if (moved < 0) child_fail(report[1], errno);
        /* The Landlock ruleset must survive the close_range below too. */
        int ruleset = s->landlock_fd >= 0 ? fcntl(s->landlock_fd, F_DUPFD_CLOEXEC, 1000) : -1;
        if (s->landlock_fd >= 0 && ruleset < 0) child_fail(moved, errno);
        if (syscall(SYS_close_range, keep, 999, 0) != 0) {
            for (int fd = keep; fd < 1000; fd++) close(fd);
        }
        if (s->cwd && chdir(s->cwd) != 0) child_fail(moved, errno);
        /* Drop the jitsh group for good (real, effective and saved): the job is the user alone. */
        gid_t g = getgid();
        if (setresgid(g, g, g) != 0) child_fail(moved, errno);
        if (getegid() != g) child_fail(moved, EPERM);
        if (ruleset >= 0) {
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(moved, errno);
            if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) child_fail(moved, errno);
            close(ruleset);
        }
        if (s->trace) {
            if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) child_fail(moved, errno);
            /* Before the tracer lets it run: nothing the job starts can leave the tracer (the
               filter refuses ptrace itself, so it comes after TRACEME). */
            if (jitsh_job_filter_install() != 0) child_fail(moved, errno);
            raise(SIGSTOP);
        }
        execve(s->path, s->argv, s->envp);
        child_fail(moved, errno);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(report[1]);
    if (pid < 0) {
        close(report[0]);
        *error = fork_errno;
        return -1;
    }
    if (s->trace) {
        /* The child stops before exec; the tracer reads the report after letting it go on. */
        *pending_report = report[0];
        *error = 0;
        return pid;
    }
    int child_errno = 0;
    ssize_t n;
    do {
        n = read(report[0], &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof child_errno) {
        /* The child failed before exec (or, traced, exec is still to come: n == 0). */
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *error = child_errno;
        return -1;
    }
    *error = 0;
    return pid;
}

int jitsh_script_fd(const char *bytes, size_t len) {
    int fd = memfd_create("jitsh-line", MFD_CLOEXEC);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, bytes + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        done += (size_t)n;
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static int signal_fd = -1;

static void on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t ignored = write(signal_fd, &b, 1);
    (void)ignored;
    errno = saved;
}

int jitsh_signals_install(int fd) {
    signal_fd = fd;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    int sigs[] = {SIGWINCH, SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGALRM};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        if (sigaction(sigs[i], &sa, NULL) != 0) return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTTOU, SIG_IGN);
    signal(SIGTTIN, SIG_IGN);
    signal(SIGTSTP, SIG_IGN);
    return 0;
}

int jitsh_openpty(int *master, int *slave, unsigned short rows, unsigned short cols) {
    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    ws.ws_row = rows ? rows : 24;
    ws.ws_col = cols ? cols : 80;
    if (openpty(master, slave, NULL, NULL, &ws) != 0) return -1;
    fcntl(*master, F_SETFD, FD_CLOEXEC);
    fcntl(*slave, F_SETFD, FD_CLOEXEC);
    return 0;
}

int jitsh_get_winsize(int fd, unsigned short *rows, unsigned short *cols) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0) return -1;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return 0;
}

int jitsh_set_winsize(int fd, unsigned short rows, unsigned short cols) {
    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    ws.ws_row = rows;
    ws.ws_col = cols;
    return ioctl(fd, TIOCSWINSZ, &ws);
}

int jitsh_echo_enabled(int fd) {
    struct termios t;
    if (tcgetattr(fd, &t) != 0) return 1;
    return (t.c_lflag & ECHO) != 0;
}

/* ---- The exec guard's tracer side: ptrace is variadic in glibc, so Swift calls these. ---- */

int jitsh_trace_setoptions(pid_t pid) {
    long options = PTRACE_O_TRACEEXEC | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL |
                   PTRACE_O_TRACESECCOMP;
    return (int)ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)options);
}

int jitsh_trace_cont(pid_t pid, int sig) {
    return (int)ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
}

long jitsh_trace_eventmsg(pid_t pid) {
    unsigned long msg = 0;
    if (ptrace(PTRACE_GETEVENTMSG, pid, NULL, &msg) != 0) return -1;
    return (long)msg;
}

/* A stop that carries no siginfo is a group-stop (the task stays stopped, as without a tracer). */
int jitsh_trace_is_group_stop(pid_t pid) {
    siginfo_t info;
    if (ptrace(PTRACE_GETSIGINFO, pid, NULL, &info) == 0) return 0;
    return errno == EINVAL;
}

pid_t jitsh_wait_pid(pid_t pid, int *status) {
    pid_t r;
    do {
        r = waitpid(pid, status, __WALL | __WNOTHREAD);
    } while (r < 0 && errno == EINTR);
    return r;
}

/* A real-time signal nothing else uses: only tgkill sends it, to the guard thread alone. */
#define GUARD_KICK (SIGRTMIN + 7)

static void on_kick(int sig) { (void)sig; }

pid_t jitsh_guard_thread_enter(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_kick;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: the kick must end the wait it interrupts. */
    sa.sa_flags = 0;
    sigaction(GUARD_KICK, &sa, NULL);
    sigset_t mask;
    sigfillset(&mask);
    sigdelset(&mask, GUARD_KICK);
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
    return (pid_t)syscall(SYS_gettid);
}

int jitsh_guard_kick(pid_t thread) {
    return (int)syscall(SYS_tgkill, getpid(), thread, GUARD_KICK);
}

pid_t jitsh_guard_wait(int *status) {
    return waitpid(-1, status, __WALL | __WNOTHREAD);
}

pid_t jitsh_guard_poll(int *status) {
    pid_t r;
    do {
        r = waitpid(-1, status, __WALL | __WNOTHREAD | WNOHANG);
    } while (r < 0 && errno == EINTR);
    return r;
}

int jitsh_signals_child(int wake) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    if (!wake) {
        sa.sa_handler = SIG_DFL;
        return sigaction(SIGCHLD, &sa, NULL);
    }
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) != 0) return -1;
    on_signal(SIGCHLD);
    return 0;
}

/* ---- Landlock: a ruleset that allows writes only beneath the given paths. ---- */

#include <linux/landlock.h>
/* Newer than some distributions' kernel headers; the running kernel says which it has (ABI). */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

int jitsh_landlock_ruleset(const char *const *paths, int count, int *failed_index) {
    int abi = jitsh_landlock_abi();
    if (abi < 1) return -1;
    __u64 write = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
                  LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                  LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
                  LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi >= 2) write |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) write |= LANDLOCK_ACCESS_FS_TRUNCATE;
    struct landlock_ruleset_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.handled_access_fs = write;
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0) return -1;
    for (int i = 0; i < count; i++) {
        int fd = open(paths[i], O_PATH | O_CLOEXEC);
        if (fd < 0) continue; /* A writable path that does not exist grants nothing. */
        struct stat st;
        struct landlock_path_beneath_attr beneath;
        memset(&beneath, 0, sizeof beneath);
        beneath.parent_fd = fd;
        /* Directory-only rights may not be given on a file. */
        beneath.allowed_access = write;
        if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) {
            beneath.allowed_access = LANDLOCK_ACCESS_FS_WRITE_FILE | (abi >= 3 ? LANDLOCK_ACCESS_FS_TRUNCATE : 0);
        }
        long r = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &beneath, 0);
        int saved = errno;
        close(fd);
        if (r != 0) {
            *failed_index = i;
            close(ruleset);
            errno = saved;
            return -1;
        }
    }
    fcntl(ruleset, F_SETFD, FD_CLOEXEC);
    return ruleset;
}

#include <sys/fsuid.h>

int jitsh_getresgid(gid_t *real, gid_t *effective, gid_t *saved) {
    return getresgid(real, effective, saved);
}

int jitsh_setfsgid(gid_t gid) {
    return (int)syscall(SYS_setfsgid, gid);
}

int jitsh_suspend_char(int fd) {
    struct termios t;
    if (tcgetattr(fd, &t) != 0 || !(t.c_lflag & ISIG)) return -1;
    if (t.c_cc[VSUSP] == _POSIX_VDISABLE) return -1;
    return t.c_cc[VSUSP];
}

int jitsh_signal_for_key(int fd, unsigned char c) {
    struct termios t;
    if (tcgetattr(fd, &t) != 0 || !(t.c_lflag & ISIG)) return 0;
    if (t.c_cc[VINTR] != _POSIX_VDISABLE && c == t.c_cc[VINTR]) return SIGINT;
    if (t.c_cc[VQUIT] != _POSIX_VDISABLE && c == t.c_cc[VQUIT]) return SIGQUIT;
    return 0;
}

pid_t jitsh_foreground_group(int fd) {
    pid_t g = -1;
    if (ioctl(fd, TIOCGPGRP, &g) != 0) return -1;
    return g;
}
