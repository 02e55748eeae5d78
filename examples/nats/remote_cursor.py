"""A consumer on another machine: reads a store's events from the NATS JetStream stream its
mirror fills, through a remote cursor (the ordinary Canal API).

Prints each event, acknowledges and checkpoints every batch; started again with the same
consumer name, it resumes after its last checkpoint. Exits after ``idle`` seconds without a
new event.

    python3 remote_cursor.py nats://127.0.0.1:4222 EVENTS billing [idle-seconds]
"""

import sys

import transom


def main() -> int:
    if len(sys.argv) < 4:
        print(f"usage: {sys.argv[0]} NATS_URL STREAM CONSUMER_NAME [IDLE_SECONDS]", file=sys.stderr)
        return 2
    url, stream, name = sys.argv[1:4]
    idle = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
    with transom.open_remote_cursor(url, stream, name) as cursor:
        # batches() ends after `idle` seconds without an event.
        for batch in cursor.batches(64, timeout=idle):
            last = 0
            for item in batch:
                if item.is_gap:  # events retention removed before this consumer read them
                    print(f"gap {item.gap_from}..{item.gap_to}")
                    last = item.gap_to
                else:
                    print(f"{item.sequence} {item.stream} kind={item.kind} {item.payload_bytes().decode()}")
                    last = item.sequence
            # Handled: acknowledge the batch; the checkpoint returns once the server confirmed.
            cursor.ack(last)
            cursor.checkpoint()
    return 0


if __name__ == "__main__":
    sys.exit(main())
