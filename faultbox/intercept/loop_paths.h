/* Naming what a notified syscall acts on, for the native loop (mirrors paths.py). */
#ifndef LOOP_PATHS_H
#define LOOP_PATHS_H

#include <stddef.h>
#include <stdint.h>

/* The longest name we produce: a 4096-byte relative path joined to a 4096-byte base. */
#define FL_PATH_MAX 8200
#define FL_DIRFD_SLOTS 512

typedef struct {
    int tid[FL_DIRFD_SLOTS];
    int fd[FL_DIRFD_SLOTS];
} fl_resolver;

void fl_resolver_init(fl_resolver *r);
void fl_resolver_close(fl_resolver *r);

/* PathResolver.fd_target: readlink /proc/TID/fd/N ("" → 0). out holds 4097 bytes. */
size_t fl_fd_target(fl_resolver *r, int tid, int fd, char *out);

/* PathResolver.at_path: the C string at addr, made absolute against dirfd / the cwd. */
size_t fl_at_path(fl_resolver *r, int tid, uint64_t dirfd, uint64_t addr, char *out);

/* A C int fd from a 64-bit syscall argument (negative → -1), like paths._fd_arg. */
int fl_fd_arg(uint64_t value);

/* decode_sockaddr for AF_INET/AF_INET6/ASCII AF_UNIX/other families. Returns 1 with
 * out/port set, or 0 when Python must decode raw (AF_UNIX with non-ASCII bytes: Python's
 * errors="replace" decoding). raw holds 128 bytes. */
int fl_sockaddr(int tid, uint64_t addr, uint64_t len, unsigned char *raw, size_t *rawlen,
                char *out, size_t *outlen, int *port);

/* paths.is_system_path */
int fl_is_system_path(const char *path, size_t n);

/* posixpath.normpath of an absolute or relative path (Python 3.11's algorithm). */
size_t fl_normpath(const char *in, size_t n, char *out);

#endif
