/* memory_support.h - helpers shared by the memory-manager C tests. */
#ifndef TRANSOM_MEMORY_SUPPORT_H
#define TRANSOM_MEMORY_SUPPORT_H

#include "check.h"

/* A manager of `kind`; STATIC ones get heap storage that must be released with
 * free_manager(). */
static inline transom_manager *new_manager(uint32_t kind, size_t capacity, size_t slot_size,
                                           void **storage_out) {
    transom_manager_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.kind = kind;
    cfg.capacity = capacity;
    cfg.slot_size = slot_size;
    cfg.memory_class.kind = TRANSOM_MEMORY_HOST;
    *storage_out = NULL;
    if (kind == TRANSOM_MANAGER_STATIC) {
        size_t need = 0;
        CHECK_OK(transom_manager_required_bytes(capacity, slot_size, &need));
        *storage_out = malloc(need ? need : 1);
        CHECK(*storage_out != NULL);
        cfg.storage = *storage_out;
        cfg.storage_len = need;
    }
    transom_manager *m = NULL;
    CHECK_OK(transom_manager_new(&cfg, &m));
    CHECK(m != NULL);
    return m;
}

static inline void free_manager(transom_manager *m, void *storage) {
    transom_manager_free(m);
    free(storage);
}

static inline size_t available(const transom_manager *m) {
    size_t n = 0;
    CHECK_OK(transom_manager_available(m, &n));
    return n;
}

static const uint32_t ALL_KINDS[3] = {TRANSOM_MANAGER_STATIC, TRANSOM_MANAGER_HEAP,
                                      TRANSOM_MANAGER_CONCURRENT};

#endif
