/* Journal test target: durable state first (written, fsync'ed), then un-fsynced changes of
 * every kind the journal models; prints "ready" and waits to be killed.
 *   jtarget DIR          the scenario below
 *   jtarget DIR dirsync  also fsync DIR after creating "new" (then it survives)
 *   jtarget DIR syncfs   then syncfs(DIR) (sync: sync()): all of it durable, but one more
 *                        append to "log" */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static int dir_fd;

static int make(const char *name, char c, size_t n, int flags) {
    int fd = openat(dir_fd, name, O_CREAT | O_RDWR | flags, 0644);
    char *buf = malloc(n);
    memset(buf, c, n);
    if (fd < 0 || write(fd, buf, n) != (ssize_t)n || fsync(fd) != 0) exit(2);
    free(buf);
    return fd;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    dir_fd = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (dir_fd < 0 || fsync(dir_fd) != 0) return 2;
    /* a: 4096 'A' durable; then an overwrite (pwrite) and an append (writev of two parts) */
    int a = make("a", 'A', 4096, 0);
    if (pwrite(a, "BBBB", 4, 100) != 4) return 3;
    struct iovec iov[2] = {{"CC", 2}, {"DD", 2}};
    if (writev(a, iov, 2) != 4) return 3;
    /* log: "L1\n" durable; then an O_APPEND write after an lseek to 0 (it still appends) */
    close(make("log", 'L', 3, 0));
    int lg = openat(dir_fd, "log", O_WRONLY | O_APPEND);
    lseek(lg, 0, SEEK_SET);
    if (write(lg, "L2\n", 3) != 3) return 3;
    /* t: 1000 'T' durable; then cut to 10 bytes */
    int t = make("t", 'T', 1000, 0);
    if (ftruncate(t, 10) != 0) return 3;
    /* p: 64 'P' durable; then pwritev over bytes 8..11 and past the end */
    int p = make("p", 'P', 64, 0);
    struct iovec piov[2] = {{"qqqq", 4}, {"rrrr", 4}};
    if (pwritev(p, piov, 2, 60) != 8) return 3;
    /* new: created and written, never fsync'ed: gone after the power loss */
    int n = openat(dir_fd, "new", O_CREAT | O_WRONLY, 0644);
    if (n < 0 || write(n, "N", 1) != 1) return 3;
    if (argc > 2 && !strcmp(argv[2], "dirsync") && fsync(dir_fd) != 0) return 3;
    /* synced: created, written and fsync'ed: its own fsync makes it durable */
    close(make("synced", 'S', 5, 0));
    if (argc > 2 && (!strcmp(argv[2], "syncfs") || !strcmp(argv[2], "sync"))) {
        if (!strcmp(argv[2], "sync"))
            sync();
        else if (syncfs(dir_fd) != 0)
            return 3;
        if (write(lg, "Z", 1) != 1) return 3;
    }
    printf("ready\n");
    fflush(stdout);
    pause();
    return 0;
}
