"""Subscribes: a SUB that subscribes to ``SYNC`` and to every PREFIX, and
reports what its publisher's filter lets through.

    sub.py bind|connect ENDPOINT [PREFIX...] [--hold]

The exchange, after ``READY``:

1. the publisher sends ``SYNC`` until this peer prints ``SYNCED`` (a
   publisher drops what nobody has subscribed to, so before the first
   marker arrives the subscriptions may not have);
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
    for prefix in [common.SYNC] + [p.encode() for p in args.prefixes]:
        socket.setsockopt(zmq.SUBSCRIBE, prefix)

    def next_message(what):
        while True:
            frames = common.recv(socket, what)
            if frames != [common.SYNC]:
                return frames

    common.expect(common.recv(socket, "the first marker"), [common.SYNC], "the first marker")
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
