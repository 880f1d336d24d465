/* gai.c: getaddrinfo(argv[1]) and one line per address, for the DNS front end's test. Built with
 * `musl-gcc -static`: musl's resolver reads /etc/resolv.conf and never loads an NSS module. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    struct addrinfo hints, *result, *each;
    char text[INET6_ADDRSTRLEN];
    int error;
    if (argc != 2) {
        fprintf(stderr, "usage: %s NAME\n", argv[0]);
        return 2;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    error = getaddrinfo(argv[1], NULL, &hints, &result);
    if (error != 0) {
        fprintf(stderr, "%s: %s\n", argv[1], gai_strerror(error));
        return 1;
    }
    for (each = result; each != NULL; each = each->ai_next) {
        const void *address = each->ai_family == AF_INET6
            ? (const void *)&((struct sockaddr_in6 *)each->ai_addr)->sin6_addr
            : (const void *)&((struct sockaddr_in *)each->ai_addr)->sin_addr;
        printf("%s\n", inet_ntop(each->ai_family, address, text, sizeof text));
    }
    freeaddrinfo(result);
    return 0;
}
