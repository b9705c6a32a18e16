/* Path resolution for the native loop; every function mirrors one in paths.py / ioctl.py,
 * byte for byte, because decisions and records must equal the Python reference. */
#define _GNU_SOURCE
#include "loop_paths.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define AT_FDCWD_ARG 0xFFFFFF9Cu /* -100 as the low 32 bits of an argument */
#define PAGE 4096

void fl_resolver_init(fl_resolver *r) {
    for (int i = 0; i < FL_DIRFD_SLOTS; i++) r->tid[i] = 0, r->fd[i] = -1;
}

void fl_resolver_close(fl_resolver *r) {
    for (int i = 0; i < FL_DIRFD_SLOTS; i++) {
        if (r->fd[i] >= 0) close(r->fd[i]);
        r->fd[i] = -1;
        r->tid[i] = 0;
    }
}

/* A direct-mapped cache of /proc/TID/fd dirfds. Which fds are cached never changes a
 * result: a failed lookup is always retried with a fresh dirfd (the tid may be reused). */
static void forget(fl_resolver *r, int tid) {
    int slot = (unsigned)tid % FL_DIRFD_SLOTS;
    if (r->tid[slot] == tid && r->fd[slot] >= 0) {
        close(r->fd[slot]);
        r->fd[slot] = -1;
        r->tid[slot] = 0;
    }
}

static int fd_dir(fl_resolver *r, int tid) {
    int slot = (unsigned)tid % FL_DIRFD_SLOTS;
    if (r->tid[slot] == tid && r->fd[slot] >= 0) return r->fd[slot];
    if (r->fd[slot] >= 0) close(r->fd[slot]);
    char name[32];
    snprintf(name, sizeof name, "/proc/%d/fd", tid);
    r->fd[slot] = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    r->tid[slot] = r->fd[slot] >= 0 ? tid : 0;
    return r->fd[slot];
}

int fl_fd_arg(uint64_t value) {
    uint32_t v = (uint32_t)value;
    return v < 0x80000000u ? (int)v : -1;
}

static size_t readlink_at(int dirfd, const char *name, char *out) {
    if (dirfd < 0 && dirfd != AT_FDCWD) return 0; /* no /proc/TID/fd dirfd */
    /* os.readlink reads at most MAXPATHLEN (4096) bytes; so do we */
    ssize_t n = readlinkat(dirfd, name, out, 4096);
    return n > 0 ? (size_t)n : 0;
}

size_t fl_fd_target(fl_resolver *r, int tid, int fd, char *out) {
    if (fd < 0) return 0;
    char name[16], *d = name + sizeof name; /* "%d" without snprintf: once per notification */
    *--d = '\0';
    do *--d = (char)('0' + fd % 10); while (fd /= 10);
    size_t n = readlink_at(fd_dir(r, tid), d, out);
    if (n) return n;
    /* the fd may really be closed, or the cached dirfd belongs to a dead task: retry fresh */
    forget(r, tid);
    n = readlink_at(fd_dir(r, tid), d, out);
    if (!n) forget(r, tid);
    return n;
}

/* RemoteReader.read: split at the page boundary so an unmapped second page keeps the first */
static size_t remote_read(int tid, uint64_t addr, size_t length, unsigned char *buf) {
    if (length > PAGE) length = PAGE;
    if (addr == 0 || length == 0) return 0;
    size_t first = PAGE - (addr & (PAGE - 1));
    if (first > length) first = length;
    struct iovec local = {buf, length};
    struct iovec remote[2] = {{(void *)(uintptr_t)addr, first},
                              {(void *)(uintptr_t)(addr + first), length - first}};
    ssize_t n = process_vm_readv(tid, &local, 1, remote, length > first ? 2 : 1, 0);
    return n > 0 ? (size_t)n : 0;
}

/* RemoteReader.c_string: 256 bytes first, the full 4096 only for a long string. */
static size_t c_string(int tid, uint64_t addr, char *out) {
    unsigned char *buf = (unsigned char *)out;
    size_t n = remote_read(tid, addr, 256, buf);
    if (!n) return 0;
    unsigned char *end = memchr(buf, 0, n);
    if (!end && n == 256) {
        n = remote_read(tid, addr, PAGE, buf);
        end = memchr(buf, 0, n);
    }
    return end ? (size_t)(end - buf) : n;
}

size_t fl_normpath(const char *in, size_t n, char *out) {
    if (n == 0) {
        out[0] = '.';
        return 1;
    }
    size_t initial = 0;
    if (in[0] == '/') initial = (n >= 2 && in[1] == '/' && !(n >= 3 && in[2] == '/')) ? 2 : 1;
    /* components kept so far, as [start, len) slices of out after the initial slashes */
    size_t starts[FL_PATH_MAX / 2 + 1], lens[FL_PATH_MAX / 2 + 1], count = 0;
    size_t o = initial;
    for (size_t i = 0; i < initial; i++) out[i] = '/';
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && in[j] != '/') j++;
        const char *c = in + i;
        size_t len = j - i;
        int dot = len == 1 && c[0] == '.';
        int dotdot = len == 2 && c[0] == '.' && c[1] == '.';
        if (len == 0 || dot) {
            /* skipped */
        } else if (!dotdot || (!initial && count == 0) ||
                   (count > 0 && lens[count - 1] == 2 && out[starts[count - 1]] == '.' &&
                    out[starts[count - 1] + 1] == '.')) {
            if (count > 0) out[o++] = '/';
            starts[count] = o;
            lens[count] = len;
            memcpy(out + o, c, len);
            o += len;
            count++;
        } else if (count > 0) {
            count--;
            o = starts[count] - (count > 0 ? 1 : 0);
        }
        i = j + 1;
    }
    if (o == 0) {
        out[0] = '.';
        return 1;
    }
    return o;
}

size_t fl_at_path(fl_resolver *r, int tid, uint64_t dirfd, uint64_t addr, char *out) {
    char path[PAGE + 1], base[PAGE + 1];
    size_t n = c_string(tid, addr, path);
    if (n == 0 || path[0] == '/') {
        memcpy(out, path, n);
        return n;
    }
    size_t nb;
    if ((uint32_t)dirfd == AT_FDCWD_ARG) {
        char name[32];
        snprintf(name, sizeof name, "/proc/%d/cwd", tid);
        nb = readlink_at(AT_FDCWD, name, base);
    } else {
        nb = fl_fd_target(r, tid, fl_fd_arg(dirfd), base);
    }
    if (nb == 0 || base[0] != '/') {
        memcpy(out, path, n);
        return n;
    }
    char joined[2 * PAGE + 2];
    memcpy(joined, base, nb);
    size_t nj = nb;
    if (base[nb - 1] != '/') joined[nj++] = '/';
    memcpy(joined + nj, path, n);
    nj += n;
    return fl_normpath(joined, nj, out);
}

int fl_sockaddr(int tid, uint64_t addr, uint64_t len, unsigned char *raw, size_t *rawlen,
                char *out, size_t *outlen, int *port) {
    uint32_t want = (uint32_t)len;
    size_t n = remote_read(tid, addr, want < 128 ? want : 128, raw);
    *rawlen = n;
    *port = -1;
    *outlen = 0;
    if (n < 2) return 1;
    uint16_t family;
    memcpy(&family, raw, 2);
    char ip[INET6_ADDRSTRLEN];
    if (family == AF_INET && n >= 8) {
        *port = raw[2] << 8 | raw[3];
        inet_ntop(AF_INET, raw + 4, ip, sizeof ip);
        *outlen = (size_t)snprintf(out, 64, "%s:%d", ip, *port);
        return 1;
    }
    if (family == AF_INET6 && n >= 24) {
        *port = raw[2] << 8 | raw[3];
        inet_ntop(AF_INET6, raw + 8, ip, sizeof ip);
        *outlen = (size_t)snprintf(out, 80, "[%s]:%d", ip, *port);
        return 1;
    }
    if (family == AF_UNIX) {
        const unsigned char *p = raw + 2;
        size_t pn = n - 2, o = 0;
        if (pn > 0 && p[0] == 0) {
            out[o++] = '@';
            p++;
            pn--;
        }
        for (size_t i = 0; i < pn && p[i]; i++) {
            if (p[i] >= 0x80) return 0; /* Python decodes with errors="replace" */
            out[o++] = (char)p[i];
        }
        *outlen = o;
        return 1;
    }
    *outlen = (size_t)snprintf(out, 32, "family=%u", family);
    return 1;
}

int fl_is_system_path(const char *path, size_t n) {
    static const char *const prefixes[] = {"/lib/",  "/lib64/", "/usr/lib/", "/usr/lib64/",
                                           "/proc/", "/sys/",   "/dev/",     "/etc/ld.so."};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t k = strlen(prefixes[i]);
        if (n >= k && memcmp(path, prefixes[i], k) == 0) return 1;
    }
    return 0;
}
