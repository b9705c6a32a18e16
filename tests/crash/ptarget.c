/* Partial-write test target: writes a 65-byte record to FILE the way MODE says and prints
 * every count it got back, one line each ("n=<count>" or "err=<errno>"), then "done".
 *   ptarget careful FILE     write(), retrying the rest after a short count (a correct program)
 *   ptarget naive FILE       one write(), the short count ignored (a torn record)
 *   ptarget repeat FILE K    K naive write()s of the record (seed determinism)
 *   ptarget pwrite FILE OFF  pwrite64() at OFF
 *   ptarget append FILE      O_APPEND after lseek(0): the prefix must still be appended
 *   ptarget writev FILE      writev() of the record in three iovecs (a prefix across them)
 *   ptarget pwritev2 FILE    pwritev2(offset -1, flags 0): the current offset
 *   ptarget one FILE         a 1-byte write() (nothing to cut: it runs whole) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static const char REC[] = "RECORD:0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU\n";
#define LEN ((ssize_t)sizeof REC - 1) /* 65 */

static void report(ssize_t n) {
    if (n < 0)
        printf("err=%d\n", errno);
    else
        printf("n=%zd\n", n);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *mode = argv[1];
    int flags = O_CREAT | O_WRONLY | (!strcmp(mode, "append") ? O_APPEND : 0);
    int fd = open(argv[2], flags, 0644);
    if (fd < 0) return 3;
    if (!strcmp(mode, "careful")) {
        ssize_t done = 0;
        while (done < LEN) {
            ssize_t n = write(fd, REC + done, (size_t)(LEN - done));
            report(n);
            if (n < 0) return 4;
            done += n;
        }
    } else if (!strcmp(mode, "naive")) {
        report(write(fd, REC, LEN));
    } else if (!strcmp(mode, "repeat") && argc > 3) {
        for (int i = atoi(argv[3]); i > 0; i--) report(write(fd, REC, LEN));
    } else if (!strcmp(mode, "pwrite") && argc > 3) {
        report(pwrite(fd, REC, LEN, atol(argv[3])));
    } else if (!strcmp(mode, "append")) {
        lseek(fd, 0, SEEK_SET);
        report(write(fd, REC, LEN));
    } else if (!strcmp(mode, "writev")) {
        struct iovec iov[3] = {{(void *)REC, 10}, {(void *)(REC + 10), 30},
                               {(void *)(REC + 40), LEN - 40}};
        report(writev(fd, iov, 3));
    } else if (!strcmp(mode, "pwritev2")) {
        struct iovec iov[1] = {{(void *)REC, LEN}};
        report(pwritev2(fd, iov, 1, -1, 0));
    } else if (!strcmp(mode, "one")) {
        report(write(fd, "x", 1));
    } else {
        return 2;
    }
    printf("done\n");
    return close(fd) == 0 ? 0 : 5;
}
