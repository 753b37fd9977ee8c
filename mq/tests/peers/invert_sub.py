"""Inverted matching: a SUB with ZMQ_INVERT_MATCHING that subscribes to
every PREFIX, so it receives what none of them starts.

    invert_sub.py bind|connect ENDPOINT [PREFIX...]

After ``READY`` it prints ``GOT <text>`` for each message (one frame each)
until ``END``, then ``DONE``. Its publisher must invert its matching too,
as libzmq requires, and sees the subscriptions arrive (an XPUB) before it
sends.
"""

import zmq

import common


def main():
    parser = common.parser(__doc__)
    parser.add_argument("prefixes", nargs="*", help="prefixes to subscribe to (text)")
    args = parser.parse_args()
    context = zmq.Context.instance()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.INVERT_MATCHING, 1)
    socket.rcvtimeo = common.TIMEOUT_MS
    socket.linger = 0
    for prefix in args.prefixes:
        socket.setsockopt(zmq.SUBSCRIBE, prefix.encode())
    if args.mode == "bind":
        socket.bind(args.endpoint)
    else:
        socket.connect(args.endpoint)
    print(f"READY {socket.last_endpoint.decode()}", flush=True)
    while True:
        frames = common.recv(socket, "a message")
        if len(frames) != 1:
            common.fail(f"one frame per message: {common.show(frames)}")
        print(f"GOT {frames[0].decode()}", flush=True)
        if frames[0] == b"END":
            break
    common.done(socket, args)


if __name__ == "__main__":
    main()
