#!/usr/bin/env python3
"""Sequence-numbered sender on pyzmq: dhaga's examples/seqsend.rs, same
command line, same messages, same output.

Run: python3 seqsend.py <push|pub> <[@|>]endpoint> <seconds> <interval-ms>
     [--heartbeat IVL_MS:TIMEOUT_MS] [--reconnect IVL_MS:MAX_MS]

'@' binds, '>' connects (without either a PUB binds and a PUSH connects).
Sends "0", "1", "2"... one every interval for the given seconds (a PUSH
waits while it cannot queue, never past the time), then "END <count>",
closes with a 10 s linger and prints "sent <count>".
"""
import argparse
import time

import zmq

LINGER_MS = 10_000


def pair(value):
    a, b = value.split(":")
    return int(a), int(b)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["push", "pub"])
    parser.add_argument("endpoint")
    parser.add_argument("seconds", type=float)
    parser.add_argument("interval", type=int, help="ms")
    parser.add_argument("--heartbeat", type=pair)
    parser.add_argument("--reconnect", type=pair)
    args = parser.parse_args()

    context = zmq.Context()
    socket = context.socket(zmq.PUSH if args.kind == "push" else zmq.PUB)
    if args.heartbeat:
        socket.setsockopt(zmq.HEARTBEAT_IVL, args.heartbeat[0])
        socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, args.heartbeat[1])
    if args.reconnect:
        socket.setsockopt(zmq.RECONNECT_IVL, args.reconnect[0])
        socket.setsockopt(zmq.RECONNECT_IVL_MAX, args.reconnect[1])
    socket.setsockopt(zmq.LINGER, LINGER_MS)
    endpoint, bind = args.endpoint, args.kind == "pub"
    if endpoint[:1] in ("@", ">"):
        endpoint, bind = endpoint[1:], endpoint[0] == "@"
    (socket.bind if bind else socket.connect)(endpoint)

    deadline = time.monotonic() + args.seconds
    sent = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        socket.setsockopt(zmq.SNDTIMEO, max(1, int(left * 1000)))
        try:
            socket.send(str(sent).encode())
        except zmq.Again:
            break
        sent += 1
        time.sleep(args.interval / 1000)
    socket.setsockopt(zmq.SNDTIMEO, LINGER_MS)
    socket.send(f"END {sent}".encode())
    socket.close()
    context.term()
    print(f"sent {sent}")


if __name__ == "__main__":
    main()
