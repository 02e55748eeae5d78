// bench_overhead.cpp - what transom.hpp costs over the C API on the hot paths, in one process.
//
//   cycle: store + read + release + remove of a 32-byte message (HEAP and CONCURRENT managers)
//   pull:  transom_canal_pull_batch of 64 events from an in-memory store's cursor
//
// Each variant (C; the C++ throwing API through a `const manager&` and through a by-value
// `manager_ref`; the C++ std::nothrow overloads) runs `ops` operations per
// repeat; the repeats are interleaved (C, C++, C++ nothrow, C, ...) so that load changes hit
// every variant alike, and the median ns/op of the repeats is printed with the differences.
//
//   g++ -std=c++17 -O2 -DNDEBUG -I bindings/cpp -I include benches/cpp/bench_overhead.cpp
//       -L <dir> -ltransom -Wl,-rpath,<dir> -o bench_overhead    (<dir>: libtransom.so + .so.0.2)
//   ./bench_overhead [repeats=31] [ops=200000]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "transom.hpp"

namespace {

volatile uint64_t g_sink; // keeps the reads observable

[[noreturn]] void die(const char *what, transom_status st) {
    std::fprintf(stderr, "bench: %s failed: %s\n", what, transom_status_str(st));
    std::exit(1);
}

// ---- store + read + release + remove -----------------------------------------------------

void cycle_c(const transom_manager *m, const transom_header *h, const uint8_t *p, size_t ops) {
    uint64_t sink = 0;
    for (size_t i = 0; i < ops; ++i) {
        transom_token t;
        transom_status st = transom_manager_store(m, h, p, 32, &t);
        if (st != TRANSOM_OK) die("store", st);
        transom_read_view v;
        st = transom_manager_read(m, t, &v);
        if (st != TRANSOM_OK) die("read", st);
        sink += v.payload[0];
        st = transom_manager_release(m, t);
        if (st != TRANSOM_OK) die("release", st);
        st = transom_manager_remove(m, t);
        if (st != TRANSOM_OK) die("remove", st);
    }
    g_sink = sink;
}

// M: `const transom::manager &` (the handle is reloaded from the object after every call, as
// for any handle kept in memory) or `transom::manager_ref` by value (a register, like C's).
template <class M> void cycle_cpp(M m, const transom::header &h, const uint8_t *p, size_t ops) {
    uint64_t sink = 0;
    for (size_t i = 0; i < ops; ++i) {
        transom::token t = m.store(h, transom::bytes(p, 32));
        {
            transom::read_view v = m.read(t);
            sink += v.data()[0];
        } // released here
        m.remove(t);
    }
    g_sink = sink;
}

void cycle_cpp_nothrow(transom::manager_ref m, const transom::header &h, const uint8_t *p, size_t ops) {
    uint64_t sink = 0;
    transom::read_view v;
    for (size_t i = 0; i < ops; ++i) {
        transom::token t;
        transom::status st = m.store(std::nothrow, h, transom::bytes(p, 32), t);
        if (st != TRANSOM_OK) die("store", st);
        st = m.read(std::nothrow, t, v);
        if (st != TRANSOM_OK) die("read", st);
        sink += v.data()[0];
        st = v.release(std::nothrow);
        if (st != TRANSOM_OK) die("release", st);
        st = m.remove(std::nothrow, t);
        if (st != TRANSOM_OK) die("remove", st);
    }
    g_sink = sink;
}

// ---- pull_batch ------------------------------------------------------------------------------

constexpr size_t kBatch = 64;

// Pulls `ops` batches of kBatch; the cursor is rewound (not acknowledged) whenever it reaches
// the end, identically in every variant.
void pull_c(transom_canal *c, size_t events, size_t ops) {
    static transom_item items[kBatch];
    uint64_t sink = 0;
    size_t seen = 0;
    transom_status st0 = transom_canal_rewind(c); // every run starts at the first event
    if (st0 != TRANSOM_OK) die("rewind", st0);
    for (size_t i = 0; i < ops; ++i) {
        size_t n = 0;
        transom_status st = transom_canal_pull_batch(c, 0, items, kBatch, &n);
        if (st != TRANSOM_OK) die("pull_batch", st);
        sink += items[0].event.sequence;
        seen += n;
        if (seen == events) {
            seen = 0;
            if ((st = transom_canal_rewind(c)) != TRANSOM_OK) die("rewind", st);
        }
    }
    g_sink = sink;
}

void pull_cpp(transom::canal &c, size_t events, size_t ops) {
    uint64_t sink = 0;
    size_t seen = 0;
    c.rewind();
    for (size_t i = 0; i < ops; ++i) {
        transom::batch b = c.pull(kBatch, std::chrono::nanoseconds(0));
        if (b.status() != TRANSOM_OK) die("pull", b.status());
        sink += b[0].event.sequence;
        seen += b.size();
        if (seen == events) {
            seen = 0;
            c.rewind();
        }
    }
    g_sink = sink;
}

void pull_cpp_nothrow(transom::canal &c, size_t events, size_t ops) {
    static transom_item items[kBatch];
    uint64_t sink = 0;
    size_t seen = 0;
    c.rewind();
    for (size_t i = 0; i < ops; ++i) {
        transom::batch b;
        transom::status st = c.pull(std::nothrow, transom::span<transom_item>(items, kBatch), std::chrono::nanoseconds(0), b);
        if (st != TRANSOM_OK) die("pull", st);
        sink += items[0].event.sequence;
        seen += b.size();
        if (seen == events) {
            seen = 0;
            c.rewind();
        }
    }
    g_sink = sink;
}

// ---- measurement -----------------------------------------------------------------------------

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct variant {
    const char *name;
    std::function<void(size_t)> run;
    std::vector<double> ns_per_op;
};

void measure(const char *title, std::vector<variant> &vs, int repeats, size_t ops) {
    for (auto &v : vs) v.run(ops / 10); // warm-up
    for (int r = 0; r < repeats; ++r) {
        for (auto &v : vs) {
            auto t0 = std::chrono::steady_clock::now();
            v.run(ops);
            auto t1 = std::chrono::steady_clock::now();
            v.ns_per_op.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / double(ops));
        }
    }
    double base = median(vs[0].ns_per_op);
    double base_min = *std::min_element(vs[0].ns_per_op.begin(), vs[0].ns_per_op.end());
    std::printf("%s (%d repeats x %zu ops; median, then best)\n", title, repeats, ops);
    for (auto &v : vs) {
        double m = median(v.ns_per_op);
        double b = *std::min_element(v.ns_per_op.begin(), v.ns_per_op.end());
        std::printf("  %-13s median %8.1f ns/op %+6.1f ns (%+5.1f%%)   best %8.1f ns/op %+6.1f ns\n", v.name, m,
                    m - base, 100.0 * (m - base) / base, b, b - base_min);
    }
}

} // namespace

int main(int argc, char **argv) {
    int repeats = argc > 1 ? std::atoi(argv[1]) : 31;
    size_t ops = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 200000;
    if (repeats < 1 || ops < 10) {
        std::fprintf(stderr, "usage: %s [repeats>=1] [ops>=10]\n", argv[0]);
        return 2;
    }
    uint8_t payload[32];
    for (int i = 0; i < 32; ++i) payload[i] = uint8_t(i + 1);
    transom::header h;

    for (uint32_t kind : {uint32_t(TRANSOM_MANAGER_HEAP), uint32_t(TRANSOM_MANAGER_CONCURRENT)}) {
        transom::manager m(transom_manager_config{kind, 1024, 64, transom::host_memory(), nullptr, 0});
        std::vector<variant> vs{
            {"C", [&](size_t n) { cycle_c(m.get(), &h, payload, n); }, {}},
            {"C++ manager&", [&](size_t n) { cycle_cpp<const transom::manager &>(m, h, payload, n); }, {}},
            {"C++ ref", [&](size_t n) { cycle_cpp<transom::manager_ref>(m.ref(), h, payload, n); }, {}},
            {"C++ nothrow", [&](size_t n) { cycle_cpp_nothrow(m.ref(), h, payload, n); }, {}},
        };
        measure(kind == TRANSOM_MANAGER_HEAP ? "store+read+release+remove, HEAP manager"
                                             : "store+read+release+remove, CONCURRENT manager",
                vs, repeats, ops);
    }

    {
        const size_t events = kBatch * 64;
        transom::store s = transom::store::in_memory();
        for (size_t i = 0; i < events; ++i) s.append("bench", 1, transom::bytes(payload, 32));
        // One cursor for every variant (each run rewinds it to the first event).
        transom::canal c = transom::canal::cursor(s);
        std::vector<variant> vs{
            {"C", [&](size_t n) { pull_c(c.get(), events, n); }, {}},
            {"C++", [&](size_t n) { pull_cpp(c, events, n); }, {}},
            {"C++ nothrow", [&](size_t n) { pull_cpp_nothrow(c, events, n); }, {}},
        };
        measure("pull_batch of 64 events, in-memory cursor", vs, repeats, ops / 10);
    }
    return 0;
}
