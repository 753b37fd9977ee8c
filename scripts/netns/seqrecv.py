#!/usr/bin/env python3
"""Sequence-numbered receiver on pyzmq: dhaga's examples/seqrecv.rs, same
command line, same output.

Run: python3 seqrecv.py <pull|sub> <[@|>]endpoint> <seconds>
     [--heartbeat IVL_MS:TIMEOUT_MS] [--reconnect IVL_MS:MAX_MS]

'@' binds, '>' connects (without either a PULL binds and a SUB connects
and subscribes to everything). Receives until "END <count>" or for the
given seconds, printing "first <n>", "resume after <ms> ms at <n>" after a
silence of 500 ms or more, the first ten "gap <a>..<b> (<n> missing)",
"duplicate <n>" and "reordered <n> after <m>", and at the end "summary first= last= distinct=
lost= duplicated= reordered= end=" (lost: numbers from the first received
to the last sent that never came).
"""
import argparse
import time

import zmq

SILENCE = 0.5
SHOWN = 10
MAX_NUMBER = 100_000_000


def pair(value):
    a, b = value.split(":")
    return int(a), int(b)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["pull", "sub"])
    parser.add_argument("endpoint")
    parser.add_argument("seconds", type=float)
    parser.add_argument("--heartbeat", type=pair)
    parser.add_argument("--reconnect", type=pair)
    args = parser.parse_args()

    context = zmq.Context()
    socket = context.socket(zmq.PULL if args.kind == "pull" else zmq.SUB)
    if args.heartbeat:
        socket.setsockopt(zmq.HEARTBEAT_IVL, args.heartbeat[0])
        socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, args.heartbeat[1])
    if args.reconnect:
        socket.setsockopt(zmq.RECONNECT_IVL, args.reconnect[0])
        socket.setsockopt(zmq.RECONNECT_IVL_MAX, args.reconnect[1])
    if args.kind == "sub":
        socket.setsockopt(zmq.SUBSCRIBE, b"")
    endpoint, bind = args.endpoint, args.kind == "pull"
    if endpoint[:1] in ("@", ">"):
        endpoint, bind = endpoint[1:], endpoint[0] == "@"
    (socket.bind if bind else socket.connect)(endpoint)

    deadline = time.monotonic() + args.seconds
    seen = set()
    first = highest = end = None
    duplicated = reordered = gaps = 0
    last_arrival = None
    while end is None:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if not socket.poll(max(1, int(left * 1000)), zmq.POLLIN):
            break
        text = socket.recv().decode(errors="replace")
        now = time.monotonic()
        if text.startswith("END "):
            end = int(text[4:])
            continue
        try:
            n = int(text)
            if not 0 <= n <= MAX_NUMBER:
                raise ValueError
        except ValueError:
            print(f"unexpected {text!r}")
            continue
        if last_arrival is not None and now - last_arrival >= SILENCE:
            print(f"resume after {int((now - last_arrival) * 1000)} ms at {n}")
        last_arrival = now
        if first is None:
            first = n
            print(f"first {n}")
        if n in seen:
            duplicated += 1
            if duplicated <= SHOWN:
                print(f"duplicate {n}")
            continue
        seen.add(n)
        if highest is not None and n < highest:
            reordered += 1
            if reordered <= SHOWN:
                print(f"reordered {n} after {highest}")
        else:
            if highest is not None and n > highest + 1:
                gaps += 1
                if gaps <= SHOWN:
                    print(f"gap {highest + 1}..{n - 1} ({n - highest - 1} missing)")
            highest = n

    if first is None:
        lost = end or 0
    else:
        last = end if end is not None else (highest + 1 if highest is not None else first)
        lost = max(0, last - first - len(seen))
    shown = lambda n: "-" if n is None else str(n)
    print(
        f"summary first={shown(first)} last={shown(highest)} distinct={len(seen)} lost={lost} "
        f"duplicated={duplicated} reordered={reordered} end={'yes' if end is not None else 'no'}"
    )
    socket.close(linger=0)
    context.term()


if __name__ == "__main__":
    main()
