/* Benchmark target: N one-byte write(2)s to a file, timed from inside.
 *
 * Usage: target N PATH. Prints "ns_per_call <x> ok <k>" with writev(2), not write(2), so
 * strace's write injection (which fails every write) cannot swallow the result line.
 * ok counts the writes that succeeded (0 when they were all denied). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s N PATH\n", argv[0]);
        return 2;
    }
    long n = atol(argv[1]);
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    long ok = 0;
    double t0 = now_ns();
    for (long i = 0; i < n; i++) ok += write(fd, "x", 1) == 1;
    double per = (now_ns() - t0) / (double)n;
    char line[128];
    int len = snprintf(line, sizeof line, "ns_per_call %.1f ok %ld\n", per, ok);
    struct iovec iov = {line, (size_t)len};
    return writev(1, &iov, 1) == len ? 0 : 1;
}
