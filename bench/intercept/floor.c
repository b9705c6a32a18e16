/* The floor: the smallest possible supervisor for a listener faultbox's launcher made.
 *
 * Usage: floor LISTENER_FD [sync|nosync] [poll|epoll]. poll/epoll → NOTIF_RECV →
 * NOTIF_SEND(CONTINUE), until every filtered task has exited (HUP). The same wait + two
 * ioctls per notification the real supervisor needs, and nothing else: no path, no rules,
 * no record. "sync" sets SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6+) like faultbox. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>

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
#define NOTIF_SET_FLAGS 0x40082104u
#define FD_SYNC_WAKE_UP 1u

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int fd = atoi(argv[1]);
    int sync = argc > 2 && strcmp(argv[2], "sync") == 0;
    int use_epoll = argc > 3 && strcmp(argv[3], "epoll") == 0;
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
        struct resp r = {n.id, 0, 0, 1};                /* SECCOMP_USER_NOTIF_FLAG_CONTINUE */
        if (ioctl(fd, NOTIF_SEND, &r) == 0) handled++;
    }
    fprintf(stderr, "floor: %lu notifications\n", handled);
    return 0;
}
