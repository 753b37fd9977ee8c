#!/usr/bin/env python3
"""Lazy Pirate server on pyzmq: the ZeroMQ Guide's lpserver (chapter 4),
with the command line and output lines of dhaga's examples/lpserver.rs.

Run: python3 lpserver.py 'tcp://*:5555' [--reliable] [--heartbeat IVL_MS:TIMEOUT_MS]

A REP socket that echoes every request ("I: normal request (<n>)") after
a second of work; from the fourth request on it may simulate a crash (one
chance in three: it exits) or a CPU overload (two seconds more).
--reliable never fails and answers at once.
"""
import argparse
import random
import time

import zmq


def heartbeat(value):
    ivl, timeout = value.split(":")
    return int(ivl), int(timeout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint")
    parser.add_argument("--reliable", action="store_true")
    parser.add_argument("--heartbeat", type=heartbeat)
    args = parser.parse_args()

    context = zmq.Context()
    server = context.socket(zmq.REP)
    if args.heartbeat:
        server.setsockopt(zmq.HEARTBEAT_IVL, args.heartbeat[0])
        server.setsockopt(zmq.HEARTBEAT_TIMEOUT, args.heartbeat[1])
    server.bind(args.endpoint)

    cycles = 0
    while True:
        request = server.recv()
        cycles += 1
        if not args.reliable:
            if cycles > 3 and random.randint(0, 2) == 0:
                print("I: simulating a crash")
                break
            if cycles > 3 and random.randint(0, 2) == 0:
                print("I: simulating CPU overload")
                time.sleep(2)
        print(f"I: normal request ({request.decode(errors='replace')})")
        if not args.reliable:
            time.sleep(1)  # Do some heavy work.
        server.send(request)
    server.close(linger=0)
    context.term()


if __name__ == "__main__":
    main()
