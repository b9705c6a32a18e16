/* Test target for tests/intercept: one mode per scenario, results on stdout, one line each. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Report with a single write(2) so a line is one intercepted call. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    buf[n++] = '\n';
    if (write(1, buf, n) < 0) { /* stdout faults are not what we test */ }
}

static int open_w(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (fd < 0) say("open %s failed errno=%d", path, errno);
    return fd;
}

static void write_n(const char *path, int n) {
    int fd = open_w(path);
    for (int i = 0; i < n; i++) {
        long long t0 = now_ns();
        ssize_t r = write(fd, "hello", 5);
        say("write %zd errno=%d ms=%lld", r, r < 0 ? errno : 0, (now_ns() - t0) / 1000000);
    }
}

static const char *thread_path[2];
static void *thread_main(void *arg) {
    long idx = (long)arg;
    int fd = open_w(thread_path[idx]);
    int count = idx == 0 ? 1 : 20;
    for (int i = 0; i < count; i++) {
        long long t0 = now_ns();
        ssize_t r = write(fd, "hello", 5);
        say("thread%ld write %zd errno=%d ms=%lld", idx, r, r < 0 ? errno : 0,
            (now_ns() - t0) / 1000000);
    }
    return NULL;
}

/* mix DIR PORT: a fixed sequence over many syscalls and path shapes, for comparing the
 * decisions of the two supervisor loops (test_intercept_native.py). */
static void mix(const char *dir, int port) {
    if (chdir(dir) != 0) return;
    mkdir("sub", 0777);
    int dfd = open("sub", O_RDONLY | O_DIRECTORY);
    const char *names[] = {"a.wal", "./sub/../b.wal", "sub/c.log", "sub//d.log", "\xc3\xa9.wal",
                           "bad\xff\xfe.wal", "x[1].log", "sub/deep/../e.wal"};
    int fds[16], n = 0;
    mkdir("sub/deep", 0777);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        fds[n] = open(names[i], O_WRONLY | O_CREAT | O_APPEND, 0666);
        say("open %zu %d errno=%d", i, fds[n] < 0 ? -1 : 0, fds[n] < 0 ? errno : 0);
        n++;
    }
    fds[n++] = openat(dfd, "f.wal", O_WRONLY | O_CREAT, 0666);
    char abs[512];
    snprintf(abs, sizeof abs, "%s/sub/g.log", dir);
    fds[n++] = open(abs, O_WRONLY | O_CREAT, 0666);
    fds[n++] = open("/dev/null", O_WRONLY);
    for (int round = 0; round < 12; round++) {
        for (int i = 0; i < n; i++) {
            ssize_t r = round % 3 == 2 ? pwrite(fds[i], "xy", 2, 0) : write(fds[i], "x", 1);
            if (round % 4 == 3) {
                struct iovec iov[2] = {{"a", 1}, {"b", 1}};
                r = writev(fds[i], iov, 2);
            }
            if (r < 0 && round == 0) say("write %d errno=%d", i, errno);
        }
        for (int i = 0; i < n; i += 3) {
            int r = round % 2 ? fdatasync(fds[i]) : fsync(fds[i]);
            if (r < 0 && round < 2) say("sync %d errno=%d", i, errno);
        }
    }
    for (int i = 0; i < 6; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port + i % 2)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int r = connect(s, (struct sockaddr *)&sa, sizeof sa);
        say("connect %d %d errno=%d", i, r, r < 0 ? errno : 0);
        close(s);
    }
    renameat(dfd, "f.wal", AT_FDCWD, "h.wal");
    unlinkat(AT_FDCWD, "h.wal", 0);
    symlinkat("a.wal", dfd, "link.wal");
    for (int i = 0; i < n; i++) close(fds[i]);
    close(dfd);
}

static volatile sig_atomic_t signals;
static void on_signal(int sig) { (void)sig; signals++; }

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *mode = argv[1];
    if (!strcmp(mode, "write")) {               /* write PATH N */
        write_n(argv[2], atoi(argv[3]));
    } else if (!strcmp(mode, "fsync")) {        /* fsync PATH */
        int fd = open_w(argv[2]);
        int r = fsync(fd);
        say("fsync %d errno=%d", r, r < 0 ? errno : 0);
        r = fdatasync(fd);
        say("fdatasync %d errno=%d", r, r < 0 ? errno : 0);
    } else if (!strcmp(mode, "open")) {         /* open PATH... */
        for (int i = 2; i < argc; i++) {
            int fd = open(argv[i], O_RDONLY);
            say("open %s %d errno=%d", argv[i], fd < 0 ? -1 : 0, fd < 0 ? errno : 0);
        }
    } else if (!strcmp(mode, "openrel")) {      /* openrel DIR NAME: chdir, open relative */
        if (chdir(argv[2]) != 0) return 3;
        int fd = open(argv[3], O_RDONLY);
        say("open %d errno=%d", fd < 0 ? -1 : 0, fd < 0 ? errno : 0);
    } else if (!strcmp(mode, "connect")) {      /* connect PORT... */
        for (int i = 2; i < argc; i++) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[i]))};
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            int r = connect(s, (struct sockaddr *)&sa, sizeof sa);
            say("connect %s %d errno=%d", argv[i], r, r < 0 ? errno : 0);
            close(s);
        }
    } else if (!strcmp(mode, "threads")) {      /* threads SLOWPATH FASTPATH */
        pthread_t t[2];
        thread_path[0] = argv[2];
        thread_path[1] = argv[3];
        for (long i = 0; i < 2; i++) pthread_create(&t[i], NULL, thread_main, (void *)i);
        for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    } else if (!strcmp(mode, "fork")) {         /* fork PATH: a grandchild writes */
        pid_t c = fork();
        if (c == 0) {
            pid_t g = fork();
            if (g == 0) {
                write_n(argv[2], 1);
                _exit(0);
            }
            waitpid(g, NULL, 0);
            _exit(0);
        }
        waitpid(c, NULL, 0);
        say("parent done");
    } else if (!strcmp(mode, "sigwrite")) {     /* sigwrite PATH: SA_RESTART handler */
        struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
        sigaction(SIGUSR1, &sa, NULL);
        say("ready");
        int fd = open_w(argv[2]);
        ssize_t r = write(fd, "hello", 5);
        say("write %zd errno=%d signals=%d", r, r < 0 ? errno : 0, (int)signals);
    } else if (!strcmp(mode, "spin")) {         /* spin PATH: write every 20 ms forever */
        int fd = open_w(argv[2]);
        for (;;) {
            if (write(fd, "x", 1) < 0) say("write errno=%d", errno);
            usleep(20000);
        }
    } else if (!strcmp(mode, "uid")) {          /* uid PATH */
        say("uid %d gid %d", (int)getuid(), (int)getgid());
        write_n(argv[2], 1);
    } else if (!strcmp(mode, "mix")) {          /* mix DIR PORT */
        mix(argv[2], atoi(argv[3]));
    } else if (!strcmp(mode, "sleep")) {        /* sleep MS */
        usleep(atoi(argv[2]) * 1000);
    } else if (!strcmp(mode, "syscall")) {      /* syscall NR: raw call, a buffer as args[0] */
        static char buf[65536];
        long r = syscall(strtol(argv[2], NULL, 0), buf, 0, 0);
        say("syscall %ld errno=%d", r, r < 0 ? errno : 0);
    } else if (!strcmp(mode, "x32write")) {     /* x32write PATH: write(2) through the x32 ABI */
        int fd = open_w(argv[2]);
        long r = syscall(0x40000000L | 1, fd, "x32", 3);
        say("x32write %ld errno=%d", r, r < 0 ? errno : 0);
    } else {
        return 2;
    }
    return 0;
}
