// The fd() accessors of the C++ wrapper: each returns the handle's pollable descriptor
// (transom_*_fd), readable while the blocking call would return at once and unreadable again
// once it has nothing left. No sleeps: poll() with timeout 0, or with a bound for events that
// happen on the runtime's threads.
#include <poll.h>

#include <utility>

#include "check.hpp"

using namespace transom;

static bool readable(int fd, int timeout_ms = 0) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void canal_and_worker_fds() {
    store s = store::in_memory();
    canal sub = canal::subscription(s, subscription_options{});
    int fd = sub.fd();
    CHECK_EQ(sub.fd(), fd);
    CHECK(!readable(fd));
    s.append("orders", 1, "x");
    CHECK(readable(fd));
    batch b = sub.pull(16, std::chrono::nanoseconds(0));
    CHECK_EQ(b.size(), size_t(1));
    CHECK(!readable(fd));

    canal for_worker = canal::subscription(s, subscription_options{});
    worker w = worker::spawn(std::move(for_worker), [](span<const transom_item>) {});
    int wfd = w.fd();
    CHECK(!readable(wfd));
    w.stop();
    CHECK(readable(wfd, 10000));
}

static void mailbox_and_conversation_fds() {
    runtime rt(1);
    mailbox mb = rt.open_mailbox();
    int fd = mb.fd();
    CHECK(!readable(fd));
    rt.send(mb.pid(), "hi");
    CHECK(readable(fd));
    CHECK(mb.receive(std::chrono::nanoseconds(0)).has_value());
    CHECK(!readable(fd));

    mailbox participant = rt.open_mailbox();
    conversation c = rt.open_conversation(conversation_config().add_existing(participant.pid()).on_crash(TRANSOM_ON_CRASH_FAIL));
    int cfd = c.fd(), crash_fd = c.crash_fd();
    CHECK(cfd != crash_fd);
    CHECK(!readable(cfd) && !readable(crash_fd));
    c.close();
    CHECK(readable(cfd) && readable(crash_fd));
}

int main() {
    RUN(canal_and_worker_fds);
    RUN(mailbox_and_conversation_fds);
    return 0;
}
