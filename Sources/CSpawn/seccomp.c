#define _GNU_SOURCE
#include "cspawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * The job filter: what a traced job may never do, because it would let a process run out of
 * the exec guard's sight (sudo's intercept mode filters for the same reason). Each refusal:
 *
 *   clone with CLONE_UNTRACED  trace   the child would not be traced: its execs never decided.
 *                                      The tracer (a PTRACE_EVENT_SECCOMP stop) records a guard
 *                                      event and kills the caller; with no tracer: ENOSYS.
 *   clone3                     ENOSYS  its flags sit in memory a filter cannot read; libc then
 *                                      falls back to clone, whose flags are checked above.
 *   ptrace                     EPERM   attaching to another of the user's processes (one jitsh
 *                                      does not trace) and making it run something.
 *   process_vm_writev          EPERM   the same by writing into that process's memory.
 *   another ABI (i386, x32)    kill    its system call numbers differ: the checks above would
 *                                      not see a clone made through it.
 *
 * Forks, vforks and threads stay traced (PTRACE_O_TRACEFORK/VFORK/CLONE).
 */

#if defined(__x86_64__)
#define JOB_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define JOB_ARCH AUDIT_ARCH_AARCH64
#else
#error "jitsh's job filter knows x86_64 and aarch64"
#endif

#ifndef CLONE_UNTRACED
#define CLONE_UNTRACED 0x00800000
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif

#define ALLOW BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define FAIL(e) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (e))

int jitsh_job_filter_install(void) {
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, JOB_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
        /* x32 system calls carry this bit on the x86_64 architecture value. */
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
#endif
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1),
        FAIL(ENOSYS),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ptrace, 0, 1),
        FAIL(EPERM),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_process_vm_writev, 0, 1),
        FAIL(EPERM),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 1, 0),
        ALLOW,
        /* clone's flags are its first argument on both architectures; the low word holds them. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_UNTRACED, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | JITSH_SECCOMP_UNTRACED_CLONE),
        ALLOW,
    };
    struct sock_fprog prog = {.len = (unsigned short)(sizeof filter / sizeof filter[0]), .filter = filter};
    /* Unprivileged filters need no_new_privs; a traced job gains no privilege at exec anyway. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return -1;
    return 0;
}

int jitsh_become_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

/* Appends the pids listed in `path` (space-separated), with `parent`, to the arrays. */
static void read_children(const char *path, pid_t parent, pid_t *pids, pid_t *parents, int capacity, int *n) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    static char buf[65536];
    size_t used = 0;
    ssize_t len;
    while (used < sizeof buf - 1 && (len = read(fd, buf + used, sizeof buf - 1 - used)) > 0) used += (size_t)len;
    close(fd);
    buf[used] = 0;
    for (char *p = buf; *p;) {
        char *end;
        long value = strtol(p, &end, 10);
        if (end == p) { p++; continue; }
        if (*n < capacity) {
            pids[*n] = (pid_t)value;
            parents[(*n)++] = parent;
        }
        p = end;
    }
}

/* The children of every thread of `pid`, from /proc/PID/task/TID/children; -1: no such files. */
static int children_of(pid_t pid, pid_t *pids, pid_t *parents, int capacity, int *n) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) return 0;
    struct dirent *e;
    int found_file = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        char file[128];
        snprintf(file, sizeof file, "/proc/%d/task/%s/children", (int)pid, e->d_name);
        if (access(file, F_OK) == 0) found_file = 1;
        read_children(file, pid, pids, parents, capacity, n);
    }
    closedir(d);
    return found_file ? 0 : -1;
}

/* The parent of `pid` from /proc/PID/stat (the field after the last ')'), or -1. */
static pid_t parent_of(const char *pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0) return -1;
    buf[len] = 0;
    char *close_paren = strrchr(buf, ')');
    if (!close_paren) return -1;
    char state;
    int ppid;
    if (sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2) return -1;
    return (pid_t)ppid;
}

int jitsh_descendants(pid_t *pids, pid_t *parents, int capacity) {
    int n = 0;
    if (children_of(getpid(), pids, parents, capacity, &n) == 0) {
        for (int k = 0; k < n; k++) children_of(pids[k], pids, parents, capacity, &n);
        return n;
    }
    /* No children files (CONFIG_PROC_CHILDREN off): a walk of /proc, repeated to a fixed point. */
    n = 0;
    int grew = 1;
    while (grew) {
        grew = 0;
        DIR *d = opendir("/proc");
        if (!d) return n;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            pid_t pid = (pid_t)atoi(e->d_name), ppid = parent_of(e->d_name);
            if (ppid < 0) continue;
            int known = 0, parent_known = ppid == getpid();
            for (int k = 0; k < n; k++) {
                if (pids[k] == pid) known = 1;
                if (pids[k] == ppid) parent_known = 1;
            }
            if (!known && parent_known && n < capacity) {
                pids[n] = pid;
                parents[n++] = ppid;
                grew = 1;
            }
        }
        closedir(d);
    }
    return n;
}
