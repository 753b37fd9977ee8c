#!/usr/bin/env python3
"""Lazy Pirate client on pyzmq: the ZeroMQ Guide's lpclient (chapter 4),
with the command line and output lines of dhaga's examples/lpclient.rs.

Run: python3 lpclient.py tcp://127.0.0.1:5555
     [--timeout MS] [--retries N] [--seconds S] [--heartbeat IVL_MS:TIMEOUT_MS]

Sends "1", "2", "3"... over a REQ socket, each once the last was answered;
a reply that does not match is reported and waited past. With no reply
within the timeout (2500 ms) the socket is closed (linger 0) and a new one
sends the same request; after --retries tries (3) of one request it
abandons and exits with status 1. At exit it prints
"I: <n> requests, <n> replies, <n> retries, <n> malformed".
"""
import argparse
import sys
import time

import zmq


def heartbeat(value):
    ivl, timeout = value.split(":")
    return int(ivl), int(timeout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint")
    parser.add_argument("--timeout", type=int, default=2500, help="ms")
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--heartbeat", type=heartbeat)
    args = parser.parse_args()

    context = zmq.Context()

    def connect():
        client = context.socket(zmq.REQ)
        client.setsockopt(zmq.LINGER, 0)
        if args.heartbeat:
            client.setsockopt(zmq.HEARTBEAT_IVL, args.heartbeat[0])
            client.setsockopt(zmq.HEARTBEAT_TIMEOUT, args.heartbeat[1])
        client.connect(args.endpoint)
        return client

    def ask(client, request):
        """True once the reply came, False if the timeout passed first."""
        client.send(request)
        while client.poll(args.timeout, zmq.POLLIN):
            reply = client.recv()
            if reply == request:
                print(f"I: server replied OK ({request.decode()})")
                return True
            print(f"E: malformed reply from server: {reply.decode(errors='replace')}")
            tally["malformed"] += 1
        return False

    tally = dict(requests=0, replies=0, retries=0, malformed=0)
    started = time.monotonic()
    print("I: connecting to server...")
    client = connect()
    sequence = 0
    abandoned = False
    while args.seconds is None or time.monotonic() - started < args.seconds:
        sequence += 1
        request = str(sequence).encode()
        tally["requests"] += 1
        retries_left = args.retries
        answered = ask(client, request)
        while not answered:
            retries_left -= 1
            client.close()
            if retries_left <= 0:
                print("E: server seems to be offline, abandoning")
                abandoned = True
                break
            print("W: no response from server, retrying...")
            print("I: reconnecting to server...")
            client = connect()
            tally["retries"] += 1
            answered = ask(client, request)
        if abandoned:
            break
        tally["replies"] += 1
    if not abandoned:
        client.close()
    print("I: {requests} requests, {replies} replies, {retries} retries, {malformed} malformed".format(**tally))
    context.term()
    sys.exit(1 if abandoned else 0)


if __name__ == "__main__":
    main()
