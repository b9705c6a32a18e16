/* Target for tests/containers/test_container_intercept*.py, built static and bind-mounted
 * into a container. One mode per scenario; results on stdout, one write(2) per line. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    buf[n++] = '\n';
    if (write(1, buf, n) < 0) { /* stdout faults are not what we test */ }
}

/* write "hello" to an open fd and report: "<what> <rc> errno=<e>" */
static int put(int fd, const char *what) {
    ssize_t r = write(fd, "hello", 5);
    say("%s %zd errno=%d pid=%d", what, r, r < 0 ? errno : 0, (int)getpid());
    return r < 0;
}

static int open_w(const char *path, int dirfd) {
    int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) say("open %s errno=%d", path, errno);
    return fd;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        say("usage: ct_target MODE ARG...");
        return 2;
    }
    const char *mode = argv[1];
    if (!strcmp(mode, "write")) { /* write PATH: open, write */
        int fd = open_w(argv[2], AT_FDCWD);
        return fd < 0 ? 1 : put(fd, "write");
    } else if (!strcmp(mode, "fsync")) { /* fsync PATH: open, write, fsync */
        int fd = open_w(argv[2], AT_FDCWD);
        if (fd < 0) return 1;
        put(fd, "write");
        int r = fsync(fd);
        say("fsync %d errno=%d", r, r < 0 ? errno : 0);
        return 0;
    } else if (!strcmp(mode, "dirfd") && argc > 3) { /* dirfd DIR NAME: openat(dirfd, NAME) */
        int dfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) return 1;
        int fd = open_w(argv[3], dfd);
        return fd < 0 ? 1 : put(fd, "write");
    } else if (!strcmp(mode, "rel") && argc > 3) { /* rel DIR NAME: chdir, relative open */
        if (chdir(argv[2]) != 0) return 1;
        int fd = open_w(argv[3], AT_FDCWD);
        return fd < 0 ? 1 : put(fd, "write");
    } else if (!strcmp(mode, "fork")) { /* fork PATH: a grandchild opens and writes */
        pid_t child = fork();
        if (child == 0) {
            pid_t grandchild = fork();
            if (grandchild == 0) {
                int fd = open_w(argv[2], AT_FDCWD);
                _exit(fd < 0 ? 1 : put(fd, "grandchild"));
            }
            int st;
            waitpid(grandchild, &st, 0);
            _exit(0);
        }
        int st;
        waitpid(child, &st, 0);
        say("parent pid=%d", (int)getpid());
        return 0;
    } else if (!strcmp(mode, "hold")) { /* hold PATH: say "holding", then write (delayed) */
        int fd = open_w(argv[2], AT_FDCWD);
        if (fd < 0) return 1;
        say("holding");
        put(fd, "write");
        return 0;
    }
    say("unknown mode %s", mode);
    return 2;
}
