#define _GNU_SOURCE
#include "probe.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444 /* the same on x86_64 and aarch64 */
#endif
#define JITSH_LANDLOCK_CREATE_RULESET_VERSION (1U << 0)

int jitsh_probe_ptrace(void) {
    sigset_t all, old;
    sigfillset(&all);
    /* Only async-signal-safe calls in the child: the Swift runtime is multithreaded. */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        gid_t g = getgid();
        if (setresgid(g, g, g) != 0) _exit(errno & 0x7f);
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) _exit(errno & 0x7f);
        raise(SIGSTOP);
        _exit(0);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) return fork_errno;
    int status = 0, result = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return errno;
    }
    if (WIFSTOPPED(status)) {
        if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)(PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL)) != 0) result = errno;
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    } else if (WIFEXITED(status)) {
        /* The child could not become a tracee: its exit status is the errno. */
        result = WEXITSTATUS(status) ? WEXITSTATUS(status) : EPERM;
    } else {
        result = EPERM;
    }
    return result;
}

int jitsh_landlock_abi(void) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, JITSH_LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? -errno : (int)abi;
}

long long jitsh_build_time(void) {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *date = __DATE__; /* "Nov 27 2026" (day padded with a space) */
    const char *clock = __TIME__; /* "03:10:00" */
    char month[4] = {0};
    int day = 0, year = 0, hour = 0, minute = 0, second = 0;
    if (sscanf(date, "%3s %d %d", month, &day, &year) != 3) return 0;
    if (sscanf(clock, "%d:%d:%d", &hour, &minute, &second) != 3) return 0;
    const char *found = strstr(months, month);
    if (!found) return 0;
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = (int)(found - months) / 3;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return (long long)timegm(&tm);
}
