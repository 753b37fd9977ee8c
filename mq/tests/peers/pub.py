"""Publishes: a PUB that syncs with its subscriber, then publishes every
``topics()`` message and every payload.

    pub.py bind|connect ENDPOINT [--hold]

The exchange, after ``READY``:

1. this peer publishes the markers ``CONNECTED`` and ``SUBSCRIBED`` every
   millisecond until a line ``SYNCED`` comes on its stdin (the subscriber
   has had both, so its subscriptions have arrived, see ``sub.py``), for
   at most ``common.TIMEOUT_MS``;
2. it publishes every ``topics()`` message, then ``END``;
3. it publishes every payload behind a ``PAYLOAD_TOPIC`` frame.

Closing waits (up to the linger time) until everything has been sent.
"""

import select
import sys
import time

import common

#: How long to wait for stdin between two rounds of markers, in seconds.
MARKER_INTERVAL_S = 0.001


def wait_synced(socket):
    """Publishes the markers until stdin says ``SYNCED``; fails if it has
    not within ``common.TIMEOUT_MS``."""
    deadline = time.monotonic() + common.TIMEOUT_MS / 1000
    while True:
        if time.monotonic() >= deadline:
            common.fail(f"no SYNCED on stdin within {common.TIMEOUT_MS} ms")
        for marker in common.MARKERS:
            common.send(socket, marker, "a marker")
        readable, _, _ = select.select([sys.stdin], [], [], MARKER_INTERVAL_S)
        if not readable:
            continue
        line = sys.stdin.readline()
        if not line:
            common.fail("stdin closed before SYNCED")
        if line.strip() != "SYNCED":
            common.fail(f"expected SYNCED on stdin, got {line!r}")
        return


def main():
    args = common.parser(__doc__).parse_args()
    socket = common.open_socket("PUB", args)
    wait_synced(socket)
    for i, topic in enumerate(common.topics()):
        common.send(socket, [topic], f"topic {i}")
    common.send(socket, [common.END], "the end of the topics")
    for i, payload in enumerate(common.payloads()):
        common.send(socket, [common.PAYLOAD_TOPIC] + payload, f"payload {i}")
    common.done(socket, args)


if __name__ == "__main__":
    main()
