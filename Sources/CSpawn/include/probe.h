#ifndef JITSH_PROBE_H
#define JITSH_PROBE_H

/// `jitsh doctor`'s kernel probes. They do what a session will do, once, and report what the
/// kernel said: a sysctl can say ptrace is allowed while seccomp or a container forbids it.

/// Forks a child that drops the jitsh group and calls PTRACE_TRACEME, as the exec guard's jobs do,
/// then sets PTRACE_O_TRACEEXEC on it and kills it. 0 when all of that worked, else the errno.
int jitsh_probe_ptrace(void);

/// landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): the Landlock ABI version
/// (>= 1), or the negated errno (ENOSYS: not in this kernel; EOPNOTSUPP: not enabled at boot).
int jitsh_landlock_abi(void);

/// When this file was compiled (seconds since the epoch, from __DATE__ and __TIME__): a clock
/// reading earlier than that is wrong.
long long jitsh_build_time(void);

#endif
