/* memory.c - a tour of transom's slot memory manager from C.
 *
 * Creates a CONCURRENT manager, stores a message, reads it through a view, takes one message
 * out and removes another, then prints the usage counters. Every call's status is checked.
 *
 * Build against an installed transom:
 *     cc -std=c99 memory.c $(pkg-config --cflags --libs transom) -o memory
 * or with CMake: find_package(Transom 0.2 REQUIRED) + target_link_libraries(... transom::transom)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transom.h"

/* Prints the failing call, its status and this thread's detail, then exits. */
static void fail(const char *what, transom_status status) {
    char detail[256] = "";
    size_t len = 0;
    (void)transom_last_error(detail, sizeof detail, &len); /* truncated detail is fine here */
    fprintf(stderr, "memory: %s failed: %s (%d): %s\n", what, transom_status_str(status),
            (int)status, detail);
    exit(EXIT_FAILURE);
}

/* Evaluates a transom call and fails unless it returned `want`. */
#define EXPECT(call, want)                                         \
    do {                                                           \
        transom_status expect_status_ = (call);                    \
        if (expect_status_ != (want)) fail(#call, expect_status_); \
    } while (0)

#define TRY(call) EXPECT(call, TRANSOM_OK)

static void print_stats(const transom_manager *manager, const char *when) {
    transom_memory_stats stats;
    size_t available = 0;
    TRY(transom_manager_stats(manager, &stats));
    TRY(transom_manager_available(manager, &available));
    printf("%-18s in_use=%zu high_water=%zu failed_allocs=%llu retired=%zu available=%zu\n", when,
           stats.in_use, stats.high_water, (unsigned long long)stats.failed_allocs, stats.retired,
           available);
}

int main(void) {
    printf("transom %s (library %u)\n", TRANSOM_VERSION_STRING, (unsigned)transom_version());
    if (transom_version() != TRANSOM_VERSION) {
        fprintf(stderr, "memory: header and library versions differ\n");
        return EXIT_FAILURE;
    }

    /* A CONCURRENT manager: 4 slots of up to 64 payload bytes, safe from any thread. */
    transom_manager_config config;
    memset(&config, 0, sizeof config);
    config.kind = TRANSOM_MANAGER_CONCURRENT;
    config.capacity = 4;
    config.slot_size = 64;
    config.memory_class.kind = TRANSOM_MEMORY_HOST;
    transom_manager *manager = NULL;
    TRY(transom_manager_new(&config, &manager));
    print_stats(manager, "created");

    /* Store two messages; the manager stamps payload_len and memory_class into the header. */
    transom_header header;
    TRY(transom_header_init(&header));
    header.trace_id = 42;
    header.sequence = 1;
    header.qos = TRANSOM_QOS_LATENCY_CRITICAL;
    const char *hello = "hello, transom";
    transom_token first;
    TRY(transom_manager_store(manager, &header, (const uint8_t *)hello, strlen(hello), &first));
    /* A token is two words: this manager's key (never shared with another manager of the
     * process) and the slot's index and generation. Copy it freely; it is checked on use. */
    printf("token {key %llu, slot 0x%016llx}\n", (unsigned long long)first.key,
           (unsigned long long)first.slot);

    header.sequence = 2;
    const char *bye = "goodbye";
    transom_token second;
    TRY(transom_manager_store(manager, &header, (const uint8_t *)bye, strlen(bye), &second));
    print_stats(manager, "after 2 stores");

    /* A payload larger than the slot size is refused, not truncated. */
    uint8_t big[65];
    memset(big, 'x', sizeof big);
    transom_token unused;
    EXPECT(transom_manager_store(manager, &header, big, sizeof big, &unused), TRANSOM_ERR_TOO_LARGE);

    /* Read the first message in place; the view stays valid until release. */
    transom_read_view view;
    TRY(transom_manager_read(manager, first, &view));
    printf("read  seq=%llu trace=%llu len=%zu payload=\"%.*s\"\n",
           (unsigned long long)view.header->sequence, (unsigned long long)view.header->trace_id,
           view.len, (int)view.len, (const char *)view.payload);
    /* While a view is outstanding the slot cannot be freed. */
    EXPECT(transom_manager_remove(manager, first), TRANSOM_ERR_BORROWED);
    TRY(transom_manager_release(manager, first));

    /* Take the first message out: copy the payload and free the slot in one step. */
    char buf[64];
    size_t len = 0;
    TRY(transom_manager_take(manager, first, (uint8_t *)buf, sizeof buf, &len));
    printf("take  len=%zu payload=\"%.*s\"\n", len, (int)len, buf);
    /* The token is now stale: every copy of it is refused. */
    EXPECT(transom_manager_read(manager, first, &view), TRANSOM_ERR_STALE_TOKEN);

    /* Remove the second message without reading it. */
    TRY(transom_manager_remove(manager, second));
    EXPECT(transom_manager_remove(manager, second), TRANSOM_ERR_STALE_TOKEN);

    print_stats(manager, "after take+remove");
    transom_memory_stats stats;
    TRY(transom_manager_stats(manager, &stats));
    if (stats.in_use != 0 || stats.high_water != 2) {
        fprintf(stderr, "memory: unexpected stats\n");
        return EXIT_FAILURE;
    }

    transom_manager_free(manager);
    printf("ok\n");
    return EXIT_SUCCESS;
}
