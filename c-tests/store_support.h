/* store_support.h - helpers shared by the event-store C tests. */
#ifndef TRANSOM_STORE_SUPPORT_H
#define TRANSOM_STORE_SUPPORT_H

#include <ftw.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"

/* A fresh directory under the system temp dir; `buf` receives its path. */
static inline void temp_dir(char *buf, size_t cap) {
    const char *base = getenv("TMPDIR");
    snprintf(buf, cap, "%s/transom-c-XXXXXX", base && *base ? base : "/tmp");
    CHECK(mkdtemp(buf) != NULL);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void remove_tree(const char *dir) { nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static inline transom_store *open_store(const char *dir, transom_sync_policy sync) {
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dir;
    cfg.dir_len = dir ? strlen(dir) : 0;
    cfg.sync = sync;
    transom_store *s = NULL;
    CHECK_OK(transom_store_open(&cfg, &s));
    CHECK(s != NULL);
    return s;
}

/* Closes the store (its final fsync must succeed) and releases the handle. */
static inline void close_store(transom_store *s) {
    CHECK_OK(transom_store_close(s));
    transom_store_free(s);
}

static inline transom_append event_of(const char *stream, uint16_t kind, const void *payload,
                                      size_t len) {
    transom_append a;
    memset(&a, 0, sizeof a);
    a.stream = stream;
    a.stream_len = strlen(stream);
    a.kind = kind;
    a.payload = (const uint8_t *)payload;
    a.payload_len = len;
    return a;
}

/* An event buffer over static storage, reset for each use. */
typedef struct {
    transom_event events[64];
    uint8_t arena[1 << 16];
    transom_event_buffer buf;
} event_space;

static inline transom_event_buffer *space(event_space *s) {
    memset(&s->buf, 0, sizeof s->buf);
    s->buf.events = s->events;
    s->buf.cap = 64;
    s->buf.arena = s->arena;
    s->buf.arena_cap = sizeof s->arena;
    return &s->buf;
}

static inline int id_eq(transom_event_id a, transom_event_id b) { return a.hi == b.hi && a.lo == b.lo; }

#endif
