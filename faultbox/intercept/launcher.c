/*
 * faultbox-launcher: start one service process for faultbox.
 *
 *   faultbox-launcher --ppid PID --sock FD [--filter HEX] [--user NAME] [--stderr-errors]
 *                     -- FILE ARGV0 [ARG...]
 *   faultbox-launcher --connect PATH --sock FD [--filter HEX] [--stderr-errors]
 *                     -- FILE ARGV0 [ARG...]                   (container entrypoint wrapper)
 *
 * 1. --ppid: PR_SET_PDEATHSIG(SIGKILL), then getppid() == PID (closes the race with a parent
 *    that died before the prctl). --connect (the launcher is a container's init, bind-mounted
 *    in as the entrypoint, ppid 0; the container's lifetime is the engine's business): connect
 *    to the unix socket PATH and move the connection to fd FD with dup3(O_CLOEXEC) -- FD is
 *    the number the BPF program was built for. faultbox takes our pid from SO_PEERCRED.
 *    Both: setsid() (process group = pid, for killpg teardown; EPERM if already a leader).
 * 2. --user: look the user and its groups up NOW, before the filter (NSS opens files, which
 *    may be notified syscalls). Not in the static build (-DLAUNCHER_STATIC): static glibc
 *    needs NSS libraries at run time; a container's own entrypoint drops privileges instead.
 * 3. --filter: PR_SET_NO_NEW_PRIVS, seccomp(SET_MODE_FILTER, NEW_LISTENER|WAIT_KILLABLE_RECV)
 *    (retried without WAIT_KILLABLE_RECV on kernels < 5.19), write the record "FD <n> <k>"
 *    on the hand-off socket, wait for the 1-byte ACK (faultbox has copied the listener with
 *    pidfd_getfd by then). The listener stays O_CLOEXEC: exec closes our copy.
 *    Between seccomp() and the ACK only write(sock, _, RECORD_LEN) and
 *    read(sock, _, ACK_READ_LEN) run; the BPF program exempts exactly those (pitfall 1).
 * 4. --user: setgroups, setgid, setuid (after the filter, which survives them), then
 *    PR_SET_PDEATHSIG again: credential changes clear it.
 * 5. execvp(FILE, ARGV). The socket is O_CLOEXEC, so a successful exec shows up as EOF;
 *    a failure is the record "ERR <message>".
 *
 * Records are exactly RECORD_LEN bytes, NUL padded; RECORD_LEN and ACK_READ_LEN come from
 * faultbox/intercept/bpf.py at build time (-D). "UNAVAILABLE <msg>" means interception
 * itself cannot work here (e.g. EBUSY: already under a seccomp user-notify supervisor).
 * An error before there is a socket (bad usage, --connect failing) goes to stderr only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#ifndef LAUNCHER_STATIC
#include <pwd.h>
#endif
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RECORD_LEN
#error "build with -DRECORD_LEN=... (see faultbox/intercept/_build.py)"
#endif
#ifndef ACK_READ_LEN
#error "build with -DACK_READ_LEN=... (see faultbox/intercept/_build.py)"
#endif
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#define MAX_INSNS 4096
#define MAX_GROUPS 256

static int sock_fd = -1;
static int stderr_errors = 0;

/* Send one fixed-size record; only this exact write is exempted by the filter. */
static void record(const char *fmt, ...) {
    char buf[RECORD_LEN];
    va_list ap;
    memset(buf, 0, sizeof buf);
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ssize_t n;
    do {
        n = write(sock_fd, buf, RECORD_LEN);
    } while (n < 0 && errno == EINTR);
}

static void fail(int code, const char *fmt, ...) __attribute__((noreturn));
static void fail(int code, const char *fmt, ...) {
    char msg[RECORD_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg - 8, fmt, ap);
    va_end(ap);
    /* Nobody may be reading when faultbox did not wait for the exec (--stderr-errors): do not
     * die of SIGPIPE. Not done earlier: ignored signals would be inherited by the target. */
    if (stderr_errors) signal(SIGPIPE, SIG_IGN);
    if (sock_fd >= 0) record("ERR %s", msg);
    if (stderr_errors) dprintf(2, "faultbox-launcher: %s\n", msg);
    _exit(code);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode the hex-encoded sock_filter array built by bpf.py. */
static unsigned short decode_filter(const char *hex, struct sock_filter *insns) {
    size_t len = strlen(hex);
    if (len == 0 || len % (2 * sizeof(struct sock_filter)) != 0) fail(2, "bad --filter length");
    size_t count = len / (2 * sizeof(struct sock_filter));
    if (count > MAX_INSNS) fail(2, "--filter too long");
    unsigned char *out = (unsigned char *)insns;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) fail(2, "bad --filter hex");
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return (unsigned short)count;
}

static int install_filter(struct sock_fprog *prog) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        record("UNAVAILABLE prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        _exit(3);
    }
    unsigned long flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, prog);
    int killable = 1;
    if (fd < 0 && errno == EINVAL) { /* kernel < 5.19: no WAIT_KILLABLE_RECV */
        killable = 0;
        fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, prog);
    }
    if (fd < 0) {
        if (errno == EBUSY)
            record("UNAVAILABLE seccomp: EBUSY: this process already runs under a seccomp "
                   "user-notify supervisor; faultbox cannot intercept inside another one");
        else
            record("UNAVAILABLE seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER): %s",
                   strerror(errno));
        _exit(3);
    }
    return (int)fd * 2 + killable;
}

/* --connect: the hand-off socket is a connection to PATH, moved to fd `want` (the number the
 * BPF program exempts). dup3 keeps it O_CLOEXEC (dup2 would clear the flag). */
static void connect_handoff(const char *path, int want) {
    struct sockaddr_un addr;
    if (want < 3) fail(2, "--connect needs --sock FD (3 or more)");
    if (strlen(path) >= sizeof addr.sun_path) fail(2, "--connect path too long: %s", path);
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) fail(2, "socket: %s", strerror(errno));
    int rc;
    do {
        rc = connect(s, (struct sockaddr *)&addr, sizeof addr);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) fail(2, "connect %s: %s", path, strerror(errno));
    sock_fd = s; /* from here on, errors reach faultbox as ERR records too */
    if (s != want) {
        if (dup3(s, want, O_CLOEXEC) < 0)
            fail(2, "dup3 to fd %d: %s (is RLIMIT_NOFILE above it?)", want, strerror(errno));
        close(s);
    }
    sock_fd = want;
}

int main(int argc, char **argv) {
    pid_t ppid = -1;
    const char *filter_hex = NULL, *user = NULL, *connect_path = NULL;
    int i, want_fd = -1;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "--ppid") == 0 && i + 1 < argc) {
            ppid = (pid_t)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--sock") == 0 && i + 1 < argc) {
            want_fd = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--connect") == 0 && i + 1 < argc) {
            connect_path = argv[++i];
        } else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) {
            filter_hex = argv[++i];
        } else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
            user = argv[++i];
        } else if (strcmp(argv[i], "--stderr-errors") == 0) {
            stderr_errors = 1;
        } else {
            stderr_errors = 1;
            fail(2, "usage: unknown argument %s", argv[i]);
        }
    }
    if (argc - i < 2) {
        stderr_errors = 1;
        fail(2, "usage: faultbox-launcher [options] -- FILE ARGV0 [ARG...]");
    }
    const char *file = argv[i];
    char **target_argv = &argv[i + 1];

    if (connect_path) {
        /* errors before the connection can only go to stderr (the container's log) */
        stderr_errors = 1;
        if (ppid > 0 || user) fail(2, "usage: --connect excludes --ppid and --user");
        connect_handoff(connect_path, want_fd);
    } else {
        sock_fd = want_fd;
        if (sock_fd >= 0 && fcntl(sock_fd, F_SETFD, FD_CLOEXEC) != 0) fail(2, "bad --sock fd");
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail(4, "prctl(PR_SET_PDEATHSIG): %m");
        if (ppid > 0 && getppid() != ppid) _exit(137); /* faultbox died before the prctl */
    }
    setsid(); /* EPERM only if already a leader */

    uid_t uid = 0;
    gid_t gid = 0, groups[MAX_GROUPS];
    int ngroups = MAX_GROUPS;
    if (user) {
#ifdef LAUNCHER_STATIC
        fail(2, "--user is not supported by the static launcher");
#else
        errno = 0;
        struct passwd *pw = getpwnam(user);
        if (!pw) fail(5, "unknown user: %s", user);
        uid = pw->pw_uid;
        gid = pw->pw_gid;
        if (getgrouplist(user, gid, groups, &ngroups) < 0) fail(5, "too many groups: %s", user);
#endif
    }

    static struct sock_filter insns[MAX_INSNS];
    if (filter_hex) {
        struct sock_fprog prog = {decode_filter(filter_hex, insns), insns};
        int got = install_filter(&prog);
        /* From here until the ACK: only the exempted write/read on sock_fd. */
        record("FD %d %d", got / 2, got % 2);
        char ack[ACK_READ_LEN];
        ssize_t n;
        do {
            n = read(sock_fd, ack, ACK_READ_LEN);
        } while (n < 0 && errno == EINTR);
        if (n != 1 || ack[0] != 'A') _exit(6); /* faultbox gave up on us */
    }

    if (user) {
        if (setgroups((size_t)ngroups, groups) != 0) fail(5, "setgroups: %m");
        if (setgid(gid) != 0) fail(5, "setgid(%d): %m", (int)gid);
        if (setuid(uid) != 0) fail(5, "setuid(%d): %m", (int)uid);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail(4, "prctl: %m");
        if (ppid > 0 && getppid() != ppid) _exit(137);
    }

    execvp(file, target_argv);
    fail(127, "exec %s: %s", file, strerror(errno));
}
