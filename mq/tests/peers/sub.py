"""Subscribes: a SUB that subscribes to every PREFIX and reports what its
publisher's filter lets through.

    sub.py bind|connect ENDPOINT [PREFIX...] [--hold]

The exchange, after ``READY``:

1. the publisher sends the markers ``CONNECTED`` and ``SUBSCRIBED`` until
   this peer prints ``SYNCED``. A publisher drops what nobody has
   subscribed to, and a subscriber cannot see its subscriptions arrive;
   but a publisher applies the subscriptions of a connection in the order
   they come. So this peer subscribes to every prefix and to
   ``CONNECTED``, and waits for that marker: the connection is up. Only
   then does it subscribe to ``SUBSCRIBED``, which goes after the others;
   once that marker arrives, all of them have been applied. (Waiting for
   one marker subscribed with the others would not do: they may go out
   in any order, libzmq's in the order of its prefix tree.)
2. the publisher sends every ``topics()`` message, then ``END``; this peer
   prints ``GOT <hex>`` for each message that arrives (one frame each),
   then ``END``;
3. the publisher sends every payload behind a ``PAYLOAD_TOPIC`` frame (the
   prefixes must include it); this peer checks each.

Markers that were still on their way are skipped at every step.
"""

import zmq

import common


def main():
    parser = common.parser(__doc__)
    parser.add_argument("prefixes", nargs="*", help="prefixes to subscribe to (text)")
    args = parser.parse_args()
    socket = common.open_socket("SUB", args)
    for prefix in [p.encode() for p in args.prefixes] + [common.CONNECTED]:
        socket.setsockopt(zmq.SUBSCRIBE, prefix)

    def next_message(what):
        while True:
            frames = common.recv(socket, what)
            if frames not in common.MARKERS:
                return frames

    def wait_for(marker):
        while (frames := common.recv(socket, f"marker {marker!r}")) != [marker]:
            if frames not in common.MARKERS:
                common.fail(f"expected marker {marker!r}, got {common.show(frames)}")

    wait_for(common.CONNECTED)
    socket.setsockopt(zmq.SUBSCRIBE, common.SUBSCRIBED)
    wait_for(common.SUBSCRIBED)
    print("SYNCED", flush=True)
    while True:
        frames = next_message("a topic")
        if frames == [common.END]:
            print("END", flush=True)
            break
        if len(frames) != 1:
            common.fail(f"a topic message has one frame: {common.show(frames)}")
        print(f"GOT {frames[0].hex()}", flush=True)
    for i, payload in enumerate(common.payloads()):
        common.expect(next_message(f"payload {i}"), [common.PAYLOAD_TOPIC] + payload, f"payload {i}")
    common.done(socket, args)


if __name__ == "__main__":
    main()
