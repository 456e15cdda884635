/* The reference echo server for bench_echo.py: one thread, one level-triggered epoll loop over
 * non-blocking sockets, no framework. It listens on 127.0.0.1 (port chosen by the system),
 * prints "PORT <n>" on stdout, and echoes what each connection sends: read up to 64 KB, write it
 * back; what the socket does not take at once waits in the connection's buffer, with EPOLLOUT
 * asked for until it is written. bench_echo.py compiles it with the system's C compiler.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER_SIZE 65536
#define MAX_EVENTS 1024

struct connection {
    int fd;
    size_t pending; /* bytes of `data` not yet written back */
    size_t offset;  /* where they start */
    char data[BUFFER_SIZE];
};

static void fail(const char *what) {
    perror(what);
    exit(1);
}

static void drop(struct connection *connection) {
    close(connection->fd); /* closing removes it from the epoll set */
    free(connection);
}

/* Write what is pending; returns 0 when all of it went, 1 when the socket is full, -1 on error. */
static int flush(struct connection *connection) {
    while (connection->pending > 0) {
        ssize_t sent = send(connection->fd, connection->data + connection->offset, connection->pending,
                            MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            return (errno == EAGAIN || errno == EWOULDBLOCK) ? 1 : -1;
        }
        connection->offset += (size_t)sent;
        connection->pending -= (size_t)sent;
    }
    connection->offset = 0;
    return 0;
}

static void watch(int poller, struct connection *connection, int operation, unsigned events) {
    struct epoll_event event = {.events = events, .data.ptr = connection};
    if (epoll_ctl(poller, operation, connection->fd, &event) < 0)
        fail("epoll_ctl");
}

int main(void) {
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (listener < 0)
        fail("socket");
    int on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0)
        fail("bind");
    if (listen(listener, 2048) < 0)
        fail("listen");
    socklen_t length = sizeof address;
    if (getsockname(listener, (struct sockaddr *)&address, &length) < 0)
        fail("getsockname");
    printf("PORT %d\n", ntohs(address.sin_port));
    fflush(stdout);

    int poller = epoll_create1(0);
    if (poller < 0)
        fail("epoll_create1");
    /* The listener's entry carries a NULL pointer: connections carry their own. */
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(poller, EPOLL_CTL_ADD, listener, &event) < 0)
        fail("epoll_ctl");

    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int count = epoll_wait(poller, events, MAX_EVENTS, -1);
        if (count < 0) {
            if (errno == EINTR)
                continue;
            fail("epoll_wait");
        }
        for (int index = 0; index < count; index++) {
            struct connection *connection = events[index].data.ptr;
            if (connection == NULL) {
                for (;;) {
                    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
                    if (fd < 0)
                        break; /* EAGAIN: accepted all; anything else: try at the next event */
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
                    struct connection *accepted = malloc(sizeof *accepted);
                    if (accepted == NULL)
                        fail("malloc");
                    accepted->fd = fd;
                    accepted->pending = accepted->offset = 0;
                    watch(poller, accepted, EPOLL_CTL_ADD, EPOLLIN);
                }
                continue;
            }
            if (connection->pending > 0) { /* EPOLLOUT: finish the last echo first */
                int state = flush(connection);
                if (state < 0)
                    drop(connection);
                else if (state == 0)
                    watch(poller, connection, EPOLL_CTL_MOD, EPOLLIN);
                continue;
            }
            ssize_t received = recv(connection->fd, connection->data, BUFFER_SIZE, 0);
            if (received <= 0) {
                if (received < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                drop(connection); /* end of stream or an error */
                continue;
            }
            connection->pending = (size_t)received;
            int state = flush(connection);
            if (state < 0)
                drop(connection);
            else if (state == 1)
                watch(poller, connection, EPOLL_CTL_MOD, EPOLLOUT);
        }
    }
}
