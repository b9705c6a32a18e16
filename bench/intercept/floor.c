/* The floor: the smallest possible supervisor for a listener faultbox's launcher made.
 *
 * Usage: floor LISTENER_FD [sync|nosync] [poll|epoll] [path]. poll/epoll → NOTIF_RECV →
 * NOTIF_SEND(CONTINUE), until every filtered task has exited (HUP). The same wait + two
 * ioctls per notification the real supervisor needs, and nothing else: no path, no rules,
 * no record. "sync" sets SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6+) like faultbox.
 * "path" adds what naming an fd's file costs at least: readlinkat(/proc/TID/fd dirfd, "N")
 * and NOTIF_ID_VALID (the floor of faultbox's case (c), without rules or records). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct notif {
    uint64_t id;
    uint32_t pid, flags;
    int32_t nr;
    uint32_t arch;
    uint64_t ip, args[6];
};
struct resp {
    uint64_t id;
    int64_t val;
    int32_t error;
    uint32_t flags;
};
#define NOTIF_RECV 0xC0502100u
#define NOTIF_SEND 0xC0182101u
#define NOTIF_ID_VALID 0x40082102u
#define NOTIF_SET_FLAGS 0x40082104u
#define FD_SYNC_WAKE_UP 1u

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int fd = atoi(argv[1]);
    int sync = argc > 2 && strcmp(argv[2], "sync") == 0;
    int use_epoll = argc > 3 && strcmp(argv[3], "epoll") == 0;
    int name_path = argc > 4 && strcmp(argv[4], "path") == 0;
    int dirfd = -1;
    unsigned dir_tid = 0;
    if (sync && ioctl(fd, NOTIF_SET_FLAGS, (unsigned long)FD_SYNC_WAKE_UP) != 0)
        perror("SET_FLAGS");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    struct pollfd p = {fd, POLLIN, 0};
    unsigned long handled = 0;
    for (;;) {
        int k = use_epoll ? epoll_wait(ep, &ev, 1, -1) : poll(&p, 1, -1);
        if (k < 0) {
            if (errno == EINTR) continue;
            perror("wait");
            return 1;
        }
        unsigned revents = use_epoll ? ev.events : (unsigned)p.revents;
        if (!(revents & POLLIN)) break; /* HUP: the target is gone */
        struct notif n;
        memset(&n, 0, sizeof n);
        if (ioctl(fd, NOTIF_RECV, &n) != 0) continue; /* ENOENT: the task died */
        if (name_path) {
            char name[32], target[4097];
            if (dirfd < 0 || dir_tid != n.pid) {
                if (dirfd >= 0) close(dirfd);
                snprintf(name, sizeof name, "/proc/%u/fd", n.pid);
                dirfd = open(name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                dir_tid = n.pid;
            }
            snprintf(name, sizeof name, "%d", (int)n.args[0]);
            if (readlinkat(dirfd, name, target, 4096) < 0) target[0] = 0;
            if (ioctl(fd, NOTIF_ID_VALID, &n.id) != 0) continue; /* the task is gone */
        }
        struct resp r = {n.id, 0, 0, 1};                /* SECCOMP_USER_NOTIF_FLAG_CONTINUE */
        if (ioctl(fd, NOTIF_SEND, &r) == 0) handled++;
    }
    fprintf(stderr, "floor: %lu notifications\n", handled);
    return 0;
}
