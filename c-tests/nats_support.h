/* nats_support.h - a real nats-server for the C tests, and a minimal NATS protocol client that
 * creates a JetStream stream and publishes transom envelopes into it (the documented envelope:
 * one message per event, Transom-* headers, payload = the event payload).
 *
 * Each program starts its own `nats-server -js` (found on PATH; a missing server FAILS the
 * program with a clear message, it is never skipped) on a free 127.0.0.1 port with its own
 * store directory, so the programs run the same under the Rust harness, ctest, ASan and
 * valgrind. Readiness: the program connects until the server answers PING with PONG (each
 * attempt waits on poll() with a timeout; nothing sleeps for a fixed time).
 */
#ifndef TRANSOM_NATS_SUPPORT_H
#define TRANSOM_NATS_SUPPORT_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store_support.h"

typedef struct {
    pid_t pid;
    int port;
    char url[64];
    char dir[256];
} nats_server;

static inline int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    socklen_t len = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

static inline double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- a blocking NATS connection --------------------------------------------------------- */

typedef struct {
    int fd;
    char buf[1 << 16];
    size_t len; /* bytes in buf */
    unsigned next_inbox;
} nats_conn;

static inline int nats_tcp(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static inline void nats_send(nats_conn *c, const void *p, size_t n) {
    const char *b = p;
    while (n > 0) {
        ssize_t w = write(c->fd, b, n);
        CHECK(w > 0);
        b += w;
        n -= (size_t)w;
    }
}

static inline void nats_sends(nats_conn *c, const char *s) { nats_send(c, s, strlen(s)); }

/* Reads more bytes into the buffer, waiting at most `timeout_ms`; false on timeout or EOF. */
static inline int nats_fill(nats_conn *c, int timeout_ms) {
    CHECK(c->len < sizeof c->buf);
    struct pollfd p = {c->fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return 0;
    ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (r <= 0) return 0;
    c->len += (size_t)r;
    return 1;
}

static inline void nats_consume(nats_conn *c, size_t n) {
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* The next protocol line (without CRLF) copied into `line`; false on timeout. */
static inline int nats_line(nats_conn *c, char *line, size_t cap, int timeout_ms) {
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n", 2);
        if (end) {
            size_t n = (size_t)(end - c->buf);
            CHECK(n < cap);
            memcpy(line, c->buf, n);
            line[n] = 0;
            nats_consume(c, n + 2);
            return 1;
        }
        if (!nats_fill(c, timeout_ms)) return 0;
    }
}

/* Waits for the next MSG/HMSG (answering PINGs, skipping +OK/PONG/INFO) and copies its payload
 * (after any headers) into `out` (NUL-terminated). -ERR fails the program. */
static inline void nats_next_msg(nats_conn *c, char *out, size_t cap) {
    char line[1024];
    for (;;) {
        CHECK(nats_line(c, line, sizeof line, 10000));
        if (strcmp(line, "PING") == 0) {
            nats_sends(c, "PONG\r\n");
            continue;
        }
        if (strncmp(line, "-ERR", 4) == 0) {
            fprintf(stderr, "nats-server: %s\n", line);
            exit(1);
        }
        int hmsg = strncmp(line, "HMSG ", 5) == 0;
        if (!hmsg && strncmp(line, "MSG ", 4) != 0) continue;
        /* The last field is the total size; HMSG's one before it the header size. */
        char *last = strrchr(line, ' ');
        size_t total = strtoul(last + 1, NULL, 10);
        size_t hdr = 0;
        if (hmsg) {
            *last = 0;
            hdr = strtoul(strrchr(line, ' ') + 1, NULL, 10);
        }
        while (c->len < total + 2) CHECK(nats_fill(c, 10000));
        size_t n = total - hdr;
        CHECK(n < cap);
        memcpy(out, c->buf + hdr, n);
        out[n] = 0;
        nats_consume(c, total + 2);
        return;
    }
}

static inline int nats_open(nats_conn *c, int port, int timeout_ms) {
    memset(c, 0, sizeof *c);
    c->fd = nats_tcp(port);
    if (c->fd < 0) return 0;
    char line[4096];
    if (!nats_line(c, line, sizeof line, timeout_ms) || strncmp(line, "INFO ", 5) != 0) {
        close(c->fd);
        return 0;
    }
    nats_sends(c, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
                  "\"no_responders\":true,\"protocol\":1}\r\nSUB _R.> 1\r\nPING\r\n");
    for (;;) {
        if (!nats_line(c, line, sizeof line, timeout_ms)) {
            close(c->fd);
            return 0;
        }
        if (strcmp(line, "PONG") == 0) return 1;
    }
}

static inline void nats_close(nats_conn *c) { close(c->fd); }

/* Publishes (headers may be NULL) with a reply inbox and copies the reply into `reply`. */
static inline void nats_request(nats_conn *c, const char *subject, const char *headers,
                                const void *payload, size_t len, char *reply, size_t cap) {
    char head[1024]; /* subjects here are at most 511 bytes */
    unsigned inbox = ++c->next_inbox;
    if (headers) {
        size_t hl = strlen(headers);
        snprintf(head, sizeof head, "HPUB %s _R.%u %zu %zu\r\n", subject, inbox, hl, hl + len);
        nats_sends(c, head);
        nats_sends(c, headers);
    } else {
        snprintf(head, sizeof head, "PUB %s _R.%u %zu\r\n", subject, inbox, len);
        nats_sends(c, head);
    }
    nats_send(c, payload, len);
    nats_sends(c, "\r\n");
    nats_next_msg(c, reply, cap);
}

/* ---- the server ----------------------------------------------------------------------------- */

/* Starts `nats-server -js` on a free port and waits until it answers. */
static inline nats_server nats_start(void) {
    nats_server s;
    memset(&s, 0, sizeof s);
    temp_dir(s.dir, sizeof s.dir);
    s.port = free_port();
    snprintf(s.url, sizeof s.url, "nats://127.0.0.1:%d", s.port);
    char port[16];
    snprintf(port, sizeof port, "%d", s.port);
    s.pid = fork();
    CHECK(s.pid >= 0);
    if (s.pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execlp("nats-server", "nats-server", "-js", "-a", "127.0.0.1", "-p", port, "-sd", s.dir,
               (char *)NULL);
        _exit(127);
    }
    double deadline = now_s() + 30;
    for (;;) {
        int status;
        if (waitpid(s.pid, &status, WNOHANG) == s.pid) {
            fprintf(stderr, "nats-server did not start (exit %d): the C tests need `nats-server` "
                            "on PATH (Debian: apt-get install nats-server)\n",
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            exit(1);
        }
        nats_conn c;
        if (nats_open(&c, s.port, 200)) {
            nats_close(&c);
            break;
        }
        CHECK(now_s() < deadline);
        poll(NULL, 0, 20); /* the server is starting: look again */
    }
    return s;
}

static inline void nats_stop(nats_server *s) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    remove_tree(s->dir);
}

/* Creates the JetStream stream `name` over `<prefix>.>` (one replica, file storage). */
static inline void nats_create_stream(nats_conn *c, const char *name, const char *prefix) {
    char subject[256], body[512], reply[4096];
    snprintf(subject, sizeof subject, "$JS.API.STREAM.CREATE.%s", name);
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"subjects\":[\"%s.>\"],\"storage\":\"file\",\"num_replicas\":1,"
             "\"duplicate_window\":120000000000}",
             name, prefix);
    nats_request(c, subject, NULL, body, strlen(body), reply, sizeof reply);
    if (strstr(reply, "\"error\"")) {
        fprintf(stderr, "stream create failed: %s\n", reply);
        exit(1);
    }
}

/* One event as the mirror ships it. `stream` must be plain ([A-Za-z0-9_.-], no empty token):
 * the subject is then `<prefix>.<stream>`. `omit` names one header to leave out (a malformed
 * message for the CORRUPT tests), or NULL. */
typedef struct {
    uint64_t sequence;
    const char *stream;
    uint64_t stream_version;
    uint16_t kind;
    uint64_t timestamp_ns;
    const void *payload;
    size_t payload_len;
} nats_event;

static inline uint64_t event_id_lo(uint64_t seq) { return 0x1000 + seq; }
static inline uint64_t event_id_hi(uint64_t seq) { return 0xabc00000000ull + seq; }

static inline void nats_publish_event(nats_conn *c, const char *prefix, const nats_event *e,
                                      const char *omit) {
    char subject[512], headers[2048], reply[1024], line[256];
    snprintf(subject, sizeof subject, "%s.%s", prefix, e->stream);
    size_t n = 0;
    n += (size_t)snprintf(headers + n, sizeof headers - n, "NATS/1.0\r\n");
#define NATS_HDR(name, ...)                                                            \
    do {                                                                               \
        if (!omit || strcmp(omit, name) != 0) {                                        \
            snprintf(line, sizeof line, __VA_ARGS__);                                  \
            n += (size_t)snprintf(headers + n, sizeof headers - n, "%s: %s\r\n", name, line); \
        }                                                                              \
    } while (0)
    NATS_HDR("Nats-Expected-Last-Sequence", "%llu", (unsigned long long)(e->sequence - 1));
    NATS_HDR("Nats-Msg-Id", "%016llx%016llx", (unsigned long long)event_id_hi(e->sequence),
             (unsigned long long)event_id_lo(e->sequence));
    NATS_HDR("Transom-Sequence", "%llu", (unsigned long long)e->sequence);
    NATS_HDR("Transom-Id", "%016llx%016llx", (unsigned long long)event_id_hi(e->sequence),
             (unsigned long long)event_id_lo(e->sequence));
    NATS_HDR("Transom-Stream", "%s", e->stream);
    NATS_HDR("Transom-Version", "%llu", (unsigned long long)e->stream_version);
    NATS_HDR("Transom-Kind", "%u", (unsigned)e->kind);
    NATS_HDR("Transom-Timestamp", "%llu", (unsigned long long)e->timestamp_ns);
#undef NATS_HDR
    n += (size_t)snprintf(headers + n, sizeof headers - n, "\r\n");
    CHECK(n < sizeof headers);
    nats_request(c, subject, headers, e->payload, e->payload_len, reply, sizeof reply);
    if (!strstr(reply, "\"seq\"")) {
        fprintf(stderr, "publish of sequence %llu failed: %s\n", (unsigned long long)e->sequence,
                reply);
        exit(1);
    }
}

#endif
