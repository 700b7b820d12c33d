/* The limit for recording throughput: a bare PTY relay that records nothing.
 * relay CMD [ARG...]: runs CMD on a new pseudo-terminal of the caller's size and moves bytes
 * between the caller's terminal (raw) and it, as script(1) or jitsh do, until CMD's terminal
 * closes. Exits with CMD's status. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int write_all(int fd, const char *p, ssize_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, (size_t)n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= w;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: relay CMD [ARG...]\n");
        return 2;
    }
    struct winsize ws = {24, 80, 0, 0};
    ioctl(0, TIOCGWINSZ, &ws);
    struct termios saved, raw;
    int tty = tcgetattr(0, &saved) == 0;
    int master;
    pid_t pid = forkpty(&master, NULL, tty ? &saved : NULL, &ws);
    if (pid < 0) {
        perror("relay: forkpty");
        return 1;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        perror("relay: exec");
        _exit(127);
    }
    if (tty) {
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(0, TCSANOW, &raw);
    }
    static char buf[65536];
    int input_open = 1;
    for (;;) {
        struct pollfd fds[2] = {{input_open ? 0 : -1, POLLIN, 0}, {master, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[0].revents) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n <= 0) input_open = 0;
            else if (write_all(master, buf, n) < 0) break;
        }
        if (fds[1].revents) {
            ssize_t n = read(master, buf, sizeof buf);
            if (n <= 0) break; /* EIO: the terminal's last process is gone */
            if (write_all(1, buf, n) < 0) break;
        }
    }
    if (tty) tcsetattr(0, TCSANOW, &saved);
    int status = 0;
    kill(pid, SIGHUP);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
