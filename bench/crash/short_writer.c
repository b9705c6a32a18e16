/* short_writer FILE N SIZE: N pwrite()s of SIZE bytes cycling over 64 slots of FILE, taking
 * whatever count each returns (a partial() rule cuts them); prints ns per call. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    long n = atol(argv[2]), size = atol(argv[3]);
    int fd = open(argv[1], O_CREAT | O_RDWR | O_TRUNC, 0644);
    char *buf = malloc(size);
    memset(buf, 'x', size);
    if (fd < 0) return 2;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
        if (pwrite(fd, buf, size, (i % 64) * size) <= 0) return 3;
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.0f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
