#!/usr/bin/env python3
"""A network link in user space: two TAP devices joined by this process,
which delays, drops and partitions the Ethernet frames it carries between
them. For kernels without the netem qdisc (and without iptables), as the
one scripts/netns-test.sh was written on.

Run (as root): python3 wire.py <tap-a> <tap-b> <control-fifo> [--seed N]

It creates the two TAP devices (IFF_TAP | IFF_NO_PI, through /dev/net/tun)
in its own network namespace and prints "ready"; the caller then moves
each device into the namespace of one side (`ip link set <tap> netns
<ns>`: the device stays attached to this process) and gives it an
address. Every frame one side sends comes out of the other side's device,
unless the link drops it. The devices vanish when this process ends.

Commands, one per line, written to the control FIFO (created by the
caller; this process holds it open for reading and writing, so writers may
come and go):

    delay <ms>      each frame leaves <ms> after it came in (each way)
    loss <percent>  each frame is dropped with this probability (each way,
                    independently)
    partition       drop every frame, both ways, including those in flight
    heal            carry frames again (with the delay and loss set)
    stats           print the counts so far

Each command applied is printed with the time (Unix seconds), and so is
every TCP segment that ends a connection (FIN or RST, IPv4), with its
fate: carried, lost or cut. At exit (SIGTERM, SIGINT) the counts are
printed: frames carried, lost and cut by the partition, each way.
"""
import argparse
import collections
import fcntl
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
MAX_FRAME = 65536


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    return fd


def tcp_end(frame):
    """'RST' or 'FIN' and the flow, if the frame is an IPv4 TCP segment
    that resets or finishes its connection; None otherwise."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 0x0F) * 4
    tcp = 14 + ihl
    if len(frame) < tcp + 14:
        return None
    flags = frame[tcp + 13]
    kind = "RST" if flags & 0x04 else "FIN" if flags & 0x01 else None
    if kind is None:
        return None
    src = ".".join(map(str, frame[26:30])) + ":" + str(int.from_bytes(frame[tcp:tcp + 2], "big"))
    dst = ".".join(map(str, frame[30:34])) + ":" + str(int.from_bytes(frame[tcp + 2:tcp + 4], "big"))
    return f"{kind} {src} > {dst}"


def say(text):
    print(f"{time.time():.6f} {text}", flush=True)


class Direction:
    """Frames going one way: read from `src`, written to `dst` when due."""

    def __init__(self, name, src, dst):
        self.name, self.src, self.dst = name, src, dst
        self.queue = collections.deque()  # (due, frame), due increasing
        self.carried = self.lost = self.cut = 0

    def stats(self):
        return f"{self.name}: carried {self.carried}, lost {self.lost}, cut {self.cut}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tap_a")
    parser.add_argument("tap_b")
    parser.add_argument("control")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    fa, fb = open_tap(args.tap_a), open_tap(args.tap_b)
    control = os.open(args.control, os.O_RDWR | os.O_NONBLOCK)
    ways = [Direction("a->b", fa, fb), Direction("b->a", fb, fa)]
    by_src = {way.src: way for way in ways}
    delay, loss, partitioned = 0.0, 0.0, False

    def report():
        for way in ways:
            say(way.stats())

    def stop(signum, _frame):
        say(f"stopped by signal {signum}")
        report()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    say(f"ready (seed {seed})")

    pending = b""
    while True:
        now = time.monotonic()
        dues = [way.queue[0][0] for way in ways if way.queue]
        timeout = max(0.0, min(dues) - now) if dues else None
        readable, _, _ = select.select([fa, fb, control], [], [], timeout)
        now = time.monotonic()

        if control in readable:
            pending += os.read(control, 4096)
            *lines, pending = pending.split(b"\n")
            for line in lines:
                words = line.decode(errors="replace").split()
                if not words:
                    continue
                command = words[0]
                try:
                    if command == "delay":
                        delay = float(words[1]) / 1000
                    elif command == "loss":
                        loss = float(words[1]) / 100
                    elif command == "partition":
                        partitioned = True
                        for way in ways:
                            way.cut += len(way.queue)
                            way.queue.clear()
                    elif command == "heal":
                        partitioned = False
                    elif command == "stats":
                        report()
                        continue
                    else:
                        raise ValueError
                except (IndexError, ValueError):
                    say(f"unknown command {line!r}")
                    continue
                say(" ".join(words))

        for fd in (fa, fb):
            if fd not in readable:
                continue
            way = by_src[fd]
            while True:
                try:
                    frame = os.read(fd, MAX_FRAME)
                except BlockingIOError:
                    break
                except OSError:  # the device is down or being moved
                    break
                if not frame:
                    break
                if partitioned:
                    way.cut += 1
                    fate = "cut"
                elif loss and rng.random() < loss:
                    way.lost += 1
                    fate = "lost"
                else:
                    way.queue.append((now + delay, frame))
                    fate = "carried"
                end = tcp_end(frame)
                if end:
                    say(f"{way.name} {end} {fate}")

        for way in ways:
            while way.queue and way.queue[0][0] <= now:
                _, frame = way.queue.popleft()
                try:
                    os.write(way.dst, frame)
                    way.carried += 1
                except OSError:  # the far device is down: the frame is gone
                    way.lost += 1


if __name__ == "__main__":
    main()
