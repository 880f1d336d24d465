/* dns-latency.c: the latency of one DNS query with nothing else outstanding, for bench/dns.sh.
 * Asks the AAAA record of each name in NAMES (one per line) in turn, ITERATIONS times in all,
 * alternating between the servers 127.0.0.1:PORT_A and 127.0.0.1:PORT_B (so both see the same
 * machine load), and prints "A_P50 A_P99 B_P50 B_P99" in microseconds. Exits 1 on a lost,
 * mismatched or failed answer. Usage: dns-latency PORT_A PORT_B NAMES ITERATIONS */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_NAMES 1024

static size_t encode(unsigned char *out, unsigned short id, const char *name) {
    size_t at = 12;
    memset(out, 0, 12);
    out[0] = id >> 8, out[1] = id & 0xff, out[2] = 0x01, out[5] = 1; /* RD, one question */
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t length = dot ? (size_t)(dot - name) : strlen(name);
        out[at++] = (unsigned char)length;
        memcpy(out + at, name, length);
        at += length;
        name += length + (dot ? 1 : 0);
    }
    out[at++] = 0;
    out[at++] = 0, out[at++] = 28, out[at++] = 0, out[at++] = 1; /* AAAA, IN */
    return at;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int connected(int port) {
    struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&server, sizeof server) < 0) exit(1);
    return fd;
}

int main(int argc, char **argv) {
    static char names[MAX_NAMES][256];
    static unsigned char query[512], answer[4096];
    int count = 0, iterations, fds[2], i;
    double *times[2];
    FILE *file;
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT_A PORT_B NAMES ITERATIONS\n", argv[0]);
        return 2;
    }
    fds[0] = connected(atoi(argv[1]));
    fds[1] = connected(atoi(argv[2]));
    iterations = atoi(argv[4]);
    if (!(file = fopen(argv[3], "r"))) return 1;
    while (count < MAX_NAMES && fscanf(file, "%255s%*[^\n]", names[count]) == 1) count++;
    fclose(file);
    if (count == 0 || iterations <= 0) return 2;
    times[0] = calloc(iterations, sizeof(double));
    times[1] = calloc(iterations, sizeof(double));
    for (i = 0; i < 2 * iterations; i++) {
        int server = i % 2;
        unsigned short id = (unsigned short)(i * 7919 + 1);
        size_t length = encode(query, id, names[(i / 2) % count]);
        struct pollfd wait = {.fd = fds[server], .events = POLLIN};
        struct timespec start, end;
        ssize_t got;
        clock_gettime(CLOCK_MONOTONIC, &start);
        if (send(fds[server], query, length, 0) != (ssize_t)length) return 1;
        if (poll(&wait, 1, 2000) != 1) {
            fprintf(stderr, "no answer from server %c\n", 'A' + server);
            return 1;
        }
        got = recv(fds[server], answer, sizeof answer, 0);
        clock_gettime(CLOCK_MONOTONIC, &end);
        if (got < 12 || answer[0] != query[0] || answer[1] != query[1] || (answer[3] & 0x0f) != 0) {
            fprintf(stderr, "a bad answer from server %c\n", 'A' + server);
            return 1;
        }
        times[server][i / 2] = (end.tv_sec - start.tv_sec) * 1e6 + (end.tv_nsec - start.tv_nsec) / 1e3;
    }
    for (i = 0; i < 2; i++) qsort(times[i], iterations, sizeof(double), compare);
    printf("%.1f %.1f %.1f %.1f\n", times[0][iterations / 2], times[0][iterations * 99 / 100],
           times[1][iterations / 2], times[1][iterations * 99 / 100]);
    return 0;
}
