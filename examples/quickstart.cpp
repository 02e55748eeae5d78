// quickstart.cpp - transom from C++17: a slot manager, a supervised conversation whose
// participant crashes, and an event store read through a cursor.
//
//   c++ -std=c++17 quickstart.cpp $(pkg-config --cflags --libs transom) -lpthread
//   (or find_package(Transom) + target_link_libraries(app PRIVATE transom::transom))
#include <transom.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

using namespace std::chrono_literals;

int main() {
    // Slot memory: store, read through an RAII view, remove.
    transom::manager m = transom::manager::concurrent(64, 128);
    transom::token t = m.store("hello from C++");
    {
        transom::read_view v = m.read(t);
        std::printf("read back: %.*s\n", static_cast<int>(v.size()), reinterpret_cast<const char *>(v.data()));
    }
    m.remove(t);

    // A conversation: one participant answers, the other crashes on "boom"; ROUTE_TO_NEXT
    // re-sends the crashed participant's request to the survivor.
    transom::runtime rt(2);
    transom::runtime_ref r = rt.ref();
    auto participant = [r](bool fragile) {
        return [r, fragile](transom::pid self, const transom::message &msg) -> int {
            auto req = msg.as_request();
            if (!req) return 0;
            std::string text(req->text());
            if (fragile && text == "boom") return 7;  // a non-zero status crashes this process
            std::string answer = "ok: " + text;
            r.reply(self, msg.from(), req->id(), answer);
            return 0;
        };
    };
    transom::conversation_config cfg;
    cfg.add_spawned(participant(false)).add_spawned(participant(true)).on_crash(TRANSOM_ON_CRASH_ROUTE_TO_NEXT);
    transom::conversation c = rt.open_conversation(std::move(cfg));
    c.add_crash_callback([](const transom::crash_info &info) {
        std::printf("crash callback: participant %llu, exit code %d\n",
                    static_cast<unsigned long long>(info.participant.value()), info.reason.code);
    });
    std::vector<uint8_t> reply;
    for (const char *q : {"ping", "boom"}) {
        c.send(q);
        auto header = c.receive(reply, 5s);
        if (!header) return 1;
        std::printf("reply to %s: %.*s\n", q, static_cast<int>(reply.size()), reinterpret_cast<const char *>(reply.data()));
    }

    // An in-memory event store and a cursor pulling batches.
    transom::store s = transom::store::in_memory();
    for (int i = 0; i < 3; i++) s.append(transom::new_event("orders", 1, "order " + std::to_string(i)));
    transom::canal cursor = transom::canal::cursor(s);
    transom::batch b = cursor.pull(16, 1s);
    std::printf("pulled %zu events\n", b.size());
    return 0;
}
