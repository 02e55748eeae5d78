/* The transom-store tool on stores written through the C API, run as a separate process:
 * `info`/`verify`/`dump`/`truncate` on a healthy store (exit 0, and the store agrees with what
 * they print); `verify` on a damaged segment (exit 1, the file and the offset the store itself
 * reports as CORRUPT) and `recover` cutting it into a side file; every command on a store this
 * process holds open (exit 2, one line on stderr naming the lock, nothing touched); a missing
 * and a non-store directory (exit 2, one line).
 *
 * The tool is the program named by TRANSOM_STORE_TOOL (tests/c_suite.rs and CMake set it to
 * the transom-store they built). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "store_support.h"

static event_space sp;

/* What one run of the tool printed and how it ended. */
typedef struct {
    int code; /* exit status (the tool is never killed by a signal here) */
    char out[1 << 16];
    size_t out_len;
    char err[4096];
    size_t err_len;
} run_result;

static run_result res;

static const char *tool(void) {
    const char *t = getenv("TRANSOM_STORE_TOOL");
    if (!t || !*t) {
        fprintf(stderr, "TRANSOM_STORE_TOOL is not set: it names the transom-store binary under test\n");
        exit(1);
    }
    return t;
}

static void drain(int fd, char *buf, size_t cap, size_t *len, int *open) {
    char scratch[4096];
    ssize_t n = read(fd, scratch, sizeof scratch);
    CHECK(n >= 0);
    if (n == 0) {
        *open = 0;
        return;
    }
    size_t keep = (size_t)n;
    if (*len + keep > cap - 1) keep = cap - 1 - *len;
    memcpy(buf + *len, scratch, keep);
    *len += keep;
    buf[*len] = 0;
}

/* Runs `transom-store argv...` (NULL-terminated) and collects stdout, stderr and the exit
 * status into `res`. */
static run_result *run(const char *const *argv) {
    int out[2], err[2];
    CHECK(pipe(out) == 0 && pipe(err) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]);
        close(err[0]);
        close(out[1]);
        close(err[1]);
        const char *args[16] = {"transom-store"};
        for (int i = 0; argv[i] && i < 14; i++) args[i + 1] = argv[i];
        execv(tool(), (char *const *)args);
        fprintf(stderr, "exec %s: %s\n", tool(), strerror(errno));
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    memset(&res, 0, sizeof res);
    int out_open = 1, err_open = 1;
    while (out_open || err_open) {
        struct pollfd p[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
        CHECK(poll(p, 2, -1) > 0);
        if (out_open && p[0].revents) drain(out[0], res.out, sizeof res.out, &res.out_len, &out_open);
        if (err_open && p[1].revents) drain(err[0], res.err, sizeof res.err, &res.err_len, &err_open);
        if (!out_open) p[0].fd = -1;
        if (!err_open) p[1].fd = -1;
    }
    close(out[0]);
    close(err[0]);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    res.code = WEXITSTATUS(status);
    CHECK(res.code != 127);
    return &res;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* The run failed with `code`, exactly one line on stderr containing `needle`, and no stdout. */
static void one_line_failure(const run_result *r, int code, const char *needle) {
    if (r->code != code || count_lines(r->err) != 1 || !strstr(r->err, needle) || r->out_len != 0)
        fprintf(stderr, "exit %d, stdout [%s], stderr [%s], wanted %d and [%s]\n", r->code, r->out,
                r->err, code, needle);
    CHECK(r->code == code);
    CHECK(count_lines(r->err) == 1);
    CHECK(strstr(r->err, needle) != NULL);
    CHECK(r->out_len == 0);
}

static void expect_ok(const run_result *r) {
    if (r->code != 0) fprintf(stderr, "exit %d\nstdout:\n%s\nstderr:\n%s\n", r->code, r->out, r->err);
    CHECK(r->code == 0);
    CHECK(r->err_len == 0);
}

static transom_store *open_small(const char *dir) {
    transom_store_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dir;
    cfg.dir_len = strlen(dir);
    cfg.sync = TRANSOM_SYNC_ALWAYS;
    cfg.segment_size = 4096;
    transom_store *s = NULL;
    CHECK_OK(transom_store_open(&cfg, &s));
    return s;
}

/* 300 events of 40 bytes over streams "a", "b", "c" (event i on stream "abc"[i % 3]) in
 * 4 KiB segments, closed cleanly. */
static void populate(const char *dir) {
    transom_store *s = open_small(dir);
    static const char *streams[] = {"a", "b", "c"};
    uint8_t payload[40];
    for (int i = 1; i <= 300; i++) {
        memset(payload, i & 0xFF, sizeof payload);
        transom_append a = event_of(streams[i % 3], (uint16_t)(i % 5), payload, sizeof payload);
        transom_receipt r;
        CHECK_OK(transom_store_append(s, &a, &r));
        CHECK(r.sequence == (uint64_t)i);
    }
    close_store(s);
}

/* Sorted names of the directory's segment files. */
static int list_segments(const char *dir, char names[][64], int cap) {
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l == 24 && strcmp(e->d_name + 20, ".seg") == 0 && n < cap) memcpy(names[n++], e->d_name, l + 1);
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char t[64];
            memcpy(t, names[j], 64);
            memcpy(names[j], names[j - 1], 64);
            memcpy(names[j - 1], t, 64);
        }
    return n;
}

static int64_t last_value(void) {
    int64_t v = -1;
    CHECK_OK(transom_last_error_value(&v));
    return v;
}

static void healthy_store_info_verify_dump_and_truncate(void) {
    char dir[256];
    temp_dir(dir, sizeof dir);
    populate(dir);

    const char *info[] = {"info", dir, NULL};
    run_result *r = run(info);
    expect_ok(r);
    CHECK(strstr(r->out, "sequences: 1..=300\n") != NULL);
    CHECK(strstr(r->out, "first retained: 1\n") != NULL);
    CHECK(strstr(r->out, "events: 300\n") != NULL);
    CHECK(strstr(r->out, "streams: 3 ") != NULL);
    CHECK(strstr(r->out, "clean shutdown: yes\n") != NULL);

    const char *verify[] = {"verify", dir, NULL};
    r = run(verify);
    expect_ok(r);
    CHECK(strstr(r->out, "result: healthy: 300 frame(s) checked, no data damage\n") != NULL);
    CHECK(strstr(r->out, "DAMAGE") == NULL);

    /* dump: one JSON line per event; range and stream filters. */
    const char *dump[] = {"dump", dir, "--from", "10", "--to", "20", "--stream", "b", NULL};
    r = run(dump);
    expect_ok(r);
    CHECK(count_lines(r->out) == 4); /* 10, 13, 16, 19 */
    const char *line = r->out;
    for (int seq = 10; seq <= 19; seq += 3) {
        char want[64];
        snprintf(want, sizeof want, "\"sequence\":%d,", seq);
        const char *end = strchr(line, '\n');
        CHECK(line[0] == '{' && end && end[-1] == '}');
        const char *at = strstr(line, want);
        CHECK(at != NULL && at < end);
        at = strstr(line, "\"stream\":\"b\"");
        CHECK(at != NULL && at < end);
        line = end + 1;
    }

    /* Nothing above changed the store. */
    transom_store *s = open_small(dir);
    uint64_t head = 0;
    CHECK_OK(transom_store_head(s, &head));
    CHECK(head == 300);
    transom_store_statistics st;
    CHECK_OK(transom_store_stats(s, &st));
    CHECK(st.frames_scanned_at_open == 0);
    close_store(s);

    const char *truncate[] = {"truncate", dir, "--before", "150", NULL};
    r = run(truncate);
    expect_ok(r);
    const char *fr = strstr(r->out, "first retained: ");
    CHECK(fr != NULL);
    unsigned long long first = strtoull(fr + strlen("first retained: "), NULL, 10);
    CHECK(first > 1 && first <= 150);
    s = open_small(dir);
    uint64_t kept = 0;
    CHECK_OK(transom_store_first_sequence(s, &kept));
    CHECK(kept == first);
    CHECK_STATUS(transom_store_read_sequence(s, first - 1, space(&sp)), TRANSOM_ERR_TRUNCATED);
    CHECK(last_value() == (int64_t)first);
    close_store(s);
    r = run(verify);
    expect_ok(r);
    remove_tree(dir);
}

static void damaged_segment_verify_exits_1_and_recover_cuts_it(void) {
    char dir[256], path[512], side[512], segs[128][64];
    temp_dir(dir, sizeof dir);
    populate(dir);
    int n = list_segments(dir, segs, 128);
    CHECK(n >= 3);
    snprintf(path, sizeof path, "%s/%s", dir, segs[1]);
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    off_t flip = sb.st_size / 2;
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    unsigned char byte;
    CHECK(pread(fd, &byte, 1, flip) == 1);
    byte ^= 0x40;
    CHECK(pwrite(fd, &byte, 1, flip) == 1);
    close(fd);

    const char *verify[] = {"verify", dir, NULL};
    run_result *r = run(verify);
    if (r->code != 1) fprintf(stderr, "%s%s", r->out, r->err);
    CHECK(r->code == 1);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "DAMAGE: %s at offset ", path);
    const char *d = strstr(r->out, prefix);
    CHECK(d != NULL);
    long long offset = strtoll(d + strlen(prefix), NULL, 10);
    CHECK(offset >= 16 && offset <= (long long)flip);
    CHECK(strstr(r->out, "result: DAMAGED") != NULL);

    /* The store agrees: a read that reaches the damage (a page from the segment's first
     * sequence, its file name) is CORRUPT at the same offset. */
    transom_store *s = open_small(dir);
    uint64_t base = strtoull(segs[1], NULL, 10);
    CHECK_STATUS(transom_store_read_sequence(s, base, space(&sp)), TRANSOM_ERR_CORRUPT);
    CHECK(last_value() == offset);
    char detail[1024];
    size_t len = 0;
    CHECK_OK(transom_last_error(detail, sizeof detail, &len));
    CHECK(strstr(detail, segs[1]) != NULL);
    close_store(s);

    /* recover: only with a side file it may create; then the store is healthy again. */
    const char *no_side[] = {"recover", dir, NULL};
    one_line_failure(run(no_side), 2, "--side-file");
    snprintf(side, sizeof side, "%s.cut", dir);
    const char *recover[] = {"recover", dir, "--side-file", side, NULL};
    r = run(recover);
    expect_ok(r);
    CHECK(strstr(r->out, "opens again") != NULL);
    CHECK(stat(side, &sb) == 0 && sb.st_size > 8);
    r = run(verify);
    expect_ok(r);
    s = open_small(dir);
    uint64_t head = 0;
    CHECK_OK(transom_store_head(s, &head));
    CHECK(head >= 1 && head < 300);
    transom_event_buffer *b = space(&sp);
    b->cap = 1;
    CHECK_OK(transom_store_read_sequence(s, head, b));
    CHECK(b->count == 1 && b->events[0].sequence == head);
    CHECK(b->events[0].payload[0] == (uint8_t)(head & 0xFF));
    transom_append a = event_of("after", 1, "x", 1);
    transom_receipt rc;
    CHECK_OK(transom_store_append(s, &a, &rc));
    CHECK(rc.sequence == head + 1);
    close_store(s);
    unlink(side);
    remove_tree(dir);
}

static void every_command_refuses_a_store_this_process_holds_open(void) {
    char dir[256], side[512];
    temp_dir(dir, sizeof dir);
    populate(dir);
    transom_store *s = open_small(dir);
    snprintf(side, sizeof side, "%s.side", dir);
    const char *cmds[][7] = {
        {"info", dir, NULL},
        {"verify", dir, NULL},
        {"dump", dir, NULL},
        {"truncate", dir, "--before", "200", NULL},
        {"recover", dir, "--side-file", side, NULL},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) one_line_failure(run(cmds[i]), 2, "locked");
    struct stat sb;
    CHECK(stat(side, &sb) != 0 && errno == ENOENT);
    uint64_t first = 0, head = 0;
    CHECK_OK(transom_store_first_sequence(s, &first));
    CHECK_OK(transom_store_head(s, &head));
    CHECK(first == 1 && head == 300);
    close_store(s);
    /* Released: the same command works. */
    expect_ok(run(cmds[0]));
    remove_tree(dir);
}

static void missing_and_non_store_directories_get_one_line(void) {
    char dir[256], missing[512], other[512], file[600];
    temp_dir(dir, sizeof dir);
    snprintf(missing, sizeof missing, "%s/nope", dir);
    snprintf(other, sizeof other, "%s/other", dir);
    CHECK(mkdir(other, 0700) == 0);
    snprintf(file, sizeof file, "%s/notes.txt", other);
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    fputs("hello", f);
    fclose(f);
    const char *on_missing[] = {"verify", missing, NULL};
    one_line_failure(run(on_missing), 2, "no such directory");
    const char *on_other[] = {"info", other, NULL};
    one_line_failure(run(on_other), 2, "not a store directory");
    const char *on_file[] = {"dump", file, NULL};
    one_line_failure(run(on_file), 2, "not a directory");
    struct stat sb;
    CHECK(stat(missing, &sb) != 0);
    remove_tree(dir);
}

int main(void) {
    RUN(healthy_store_info_verify_dump_and_truncate);
    RUN(damaged_segment_verify_exits_1_and_recover_cuts_it);
    RUN(every_command_refuses_a_store_this_process_holds_open);
    RUN(missing_and_non_store_directories_get_one_line);
    return 0;
}
