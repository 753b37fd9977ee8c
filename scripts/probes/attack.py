#!/usr/bin/env python3
"""Hostile peers for a ZeroMQ REP server: a raw-TCP ZMTP 3.1 attacker, and
what the server does meanwhile. The probes of scripts/hostile-probes.sh,
which starts and kills the servers; this file only attacks and measures.

Run: attack.py run PROBE --server NAME --port PORT --pid PID --results FILE
     attack.py table FILE

`run` attacks the REP server listening on 127.0.0.1:PORT (process PID,
called NAME in the table) with one probe and appends one JSON line to FILE;
`table` prints FILE as a Markdown table. The probes:

  ping-flood         after a NULL handshake as a DEALER, PING commands
                     (RFC 37: TTL 0, a 16-byte context, 25 bytes on the
                     wire) totalling 1 GiB, as fast as the server takes
                     them, never reading (the PONGs pile up on the server)
  ping-slow          the same, reading 4 KiB every 10 ms
  huge-frame         a message frame whose header announces 2^62 bytes,
                     then data; then the same with 2^63-1
  endless-multipart  2^24 (16.7 million) empty frames with MORE set, then
                     the attacker leaves without the last frame
  drip-greeting      20 connections sending their greeting one byte every
                     10 s (the handshake interval is 30 s on both stacks)
  fd-exhaust         the same with 140 connections, the server started
                     under `ulimit -n 128`, and the well-behaved client
                     connecting behind them all

For each: the server's VmRSS (/proc/PID/status) before the attack, its peak
during the attack (sampled every 20 ms) and 2 s after the attacker left; a
well-behaved pyzmq REQ client, connecting once the attacker is in and
sending a request every 20 ms after each reply, with its replies and worst
round trip (an unanswered request counts with its age); how and when the
attacker's connection ended; and the CPU time (user + system,
/proc/PID/stat) the server used from before the attack to 2 s after it.
Times are from the attack's start.

Python 3 standard library and pyzmq only (scripts/setup.sh installs it).
"""
import argparse
import errno
import json
import os
import select
import socket
import struct
import sys
import threading
import time

import zmq

# --- ZMTP 3.1 on the wire (RFC 23 and RFC 37) -----------------------------

#: Greeting signature: %xFF, 8 bytes of padding, %x7F (RFC 23 §"The
#: Greeting": signature).
SIGNATURE = b"\xff" + bytes(8) + b"\x7f"
#: Protocol version 3.1 (RFC 23: version-major, version-minor).
VERSION = bytes([3, 1])
#: The NULL mechanism's name, padded with zeros to 20 bytes.
MECHANISM = b"NULL".ljust(20, b"\0")
#: The whole greeting, as a client: as-server 0 and 31 bytes of filler.
GREETING = SIGNATURE + VERSION + MECHANISM + b"\0" + bytes(31)
assert len(GREETING) == 64

#: Frame flags (RFC 23 §"Framing": flags): more frames follow.
MORE = 0x01
#: The size is 8 bytes (a long frame), not 1.
LONG = 0x02
#: The frame is a command, not a message frame.
COMMAND = 0x04


def frame(flags, body):
    """A frame: flags, then a 1- or 8-byte size (network order), then body."""
    if len(body) <= 255:
        return bytes([flags, len(body)]) + body
    return bytes([flags | LONG]) + struct.pack(">Q", len(body)) + body


def command(name, data):
    """A command frame: name length, name, data (RFC 23 §"Commands")."""
    return frame(COMMAND, bytes([len(name)]) + name + data)


def ready(socket_type):
    """READY with one property, Socket-Type (RFC 23 §"The NULL Security
    Mechanism": a property is a 1-byte name length, the name, a 4-byte
    value length and the value)."""
    name = b"Socket-Type"
    return command(b"READY", bytes([len(name)]) + name + struct.pack(">I", len(socket_type)) + socket_type)


#: Largest PING context (RFC 37: ping-context = 0*16OCTET).
PING_CONTEXT = b"0123456789abcdef"
#: PING: a 2-byte TTL in tenths of a second (0: the peer sets no timer on
#: our behalf), then the context. 25 bytes on the wire.
PING = command(b"PING", struct.pack(">H", 0) + PING_CONTEXT)
assert len(PING) == 25

MiB = 1 << 20
GiB = 1 << 30


# --- The attacker's connections --------------------------------------------

class Closed(Exception):
    """The server ended the connection: `how` is "EOF" or the error's name."""

    def __init__(self, how):
        super().__init__(how)
        self.how = how


def closed_by(error):
    """The Closed for a socket error that means the peer went away, or None."""
    if isinstance(error, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return Closed(errno.errorcode.get(error.errno, str(error.errno)))
    return None


def read_exact(sock, n, deadline):
    data = b""
    while len(data) < n:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            chunk = sock.recv(n - len(data))
        except socket.timeout:
            raise TimeoutError(f"{len(data)} of {n} bytes read before the deadline") from None
        if not chunk:
            raise Closed("EOF")
        data += chunk
    return data


def read_frame(sock, deadline):
    """(flags, body) of the next frame."""
    flags = read_exact(sock, 1, deadline)[0]
    size_bytes = read_exact(sock, 8 if flags & LONG else 1, deadline)
    size = struct.unpack(">Q", size_bytes)[0] if flags & LONG else size_bytes[0]
    return flags, read_exact(sock, size, deadline)


def handshake(port, socket_type=b"DEALER", timeout=5.0):
    """A connection that has done a NULL handshake as `socket_type`: our
    greeting and READY sent, the server's greeting and READY read."""
    deadline = time.monotonic() + timeout
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(GREETING + ready(socket_type))
    theirs = read_exact(sock, 64, deadline)
    if theirs[0] != 0xFF or theirs[9] != 0x7F or theirs[10] != 3:
        raise RuntimeError(f"not a ZMTP 3 greeting: {theirs[:11].hex()}")
    flags, body = read_frame(sock, deadline)
    if not flags & COMMAND or not body.startswith(b"\x05READY"):
        raise RuntimeError(f"expected READY, got flags {flags:#x} {body[:16]!r}")
    return sock


# --- What is measured meanwhile ---------------------------------------------

def status_field(pid, field):
    """A field of /proc/PID/status as text, or None if the process is gone
    or has no such field (a zombie has no VmRSS)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return line.split(":", 1)[1].strip()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def rss_kib(pid):
    value = status_field(pid, "VmRSS")
    return int(value.split()[0]) if value else None


def cpu_seconds(pid):
    """User plus system CPU time the process has used, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # utime and stime: fields 14 and 15 of proc(5), 12 and 13 after the ")".
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alive(pid):
    state = status_field(pid, "State")
    return state is not None and not state.startswith(("Z", "X"))


class RssSampler:
    """The server's peak VmRSS, sampled every 20 ms on a thread."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            rss = rss_kib(self.pid)
            if rss is not None:
                self.peak = max(self.peak, rss)
            self.stop.wait(0.02)

    def start(self):
        self.thread.start()

    def finish(self):
        self.stop.set()
        self.thread.join()


class Client:
    """A well-behaved REQ client on pyzmq: a new connection when `start`
    is called, then a request, its reply, 20 ms, the next request, until
    `finish`. Times are from `origin` (the attack's start)."""

    def __init__(self, context, endpoint, origin):
        self.context = context
        self.endpoint = endpoint
        self.origin = origin
        self.started = None
        self.replies = []  # (time of the reply, round trip)
        self.pending = None  # time the unanswered request was sent
        self.error = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self):
        self.started = time.monotonic() - self.origin
        self.thread.start()

    def run(self):
        req = self.context.socket(zmq.REQ)
        req.linger = 0
        try:
            req.connect(self.endpoint)
            n = 0
            while not self.stop.is_set():
                sent = time.monotonic()
                req.send(b"request %d" % n)
                n += 1
                self.pending = sent - self.origin
                while not self.stop.is_set() and not req.poll(50):
                    pass
                if self.stop.is_set():
                    break
                req.recv()
                now = time.monotonic()
                self.replies.append((now - self.origin, now - sent))
                self.pending = None
                self.stop.wait(0.02)
        except zmq.ZMQError as e:
            self.error = str(e)
        finally:
            req.close()

    def finish(self):
        """Stops the client; returns when it stopped and its pending
        request's age, if it has one."""
        self.stop.set()
        self.thread.join(timeout=5)
        now = time.monotonic() - self.origin
        return now, (now - self.pending if self.pending is not None else None)


def seconds(t):
    if t < 0.001:
        return f"{t * 1e6:.0f} µs"
    if t < 0.01:
        return f"{t * 1000:.1f} ms"
    if t < 1:
        return f"{t * 1000:.0f} ms"
    return f"{t:.1f} s"


def describe_client(client, left, stopped, pending_age):
    """The 'other client served' cell."""
    if client.started is None:
        return "not started"
    during = [r for r in client.replies if r[0] <= left]
    rts = [rt for _, rt in client.replies]
    if pending_age is not None:
        rts.append(pending_age)
    worst = f"worst rt {seconds(max(rts))}" if rts else "no request"
    error = f"; client error: {client.error}" if client.error else ""
    if not during:
        after = [t for t, _ in client.replies if t > left]
        then = (f"; first reply {seconds(after[0] - left)} after the attacker left" if after
                else f"; no reply by {seconds(stopped)}")
        return f"NOT served during the attack ({seconds(left - client.started)}){then}; {worst}{error}"
    first = during[0][1]
    wait = f"first reply after {seconds(first)}, " if first > 1 else ""
    return f"yes: {wait}{len(during)} replies, {worst}{error}"


# --- The probes -----------------------------------------------------------
#
# Each takes (port, client, origin), starts `client` once the attacker is
# in, and returns (what happened to the attacker's connection, the time the
# attacker left), times from `origin`.

FLOOD_LIMIT = 20.0  # seconds a flood may take before the attacker gives up
STALL = 2.0  # no progress for this long: the server stopped reading


def flood(port, client, origin, slow_reader):
    sock = handshake(port)
    client.start()
    chunk = PING * (MiB // len(PING))
    total = -(-GiB // len(PING)) * len(PING)
    sent = 0
    progress = time.monotonic()
    ended = None
    read = {"bytes": 0, "ended": None}
    done = threading.Event()

    def reader():
        # 4 KiB every 10 ms: 400 KiB/s, some 17,800 PONGs a second.
        while not done.is_set():
            try:
                data = sock.recv(4096)
            except socket.timeout:
                continue
            except OSError as e:
                closed = closed_by(e)
                read["ended"] = (closed.how if closed else repr(e), time.monotonic() - origin)
                return
            if not data:
                read["ended"] = ("EOF", time.monotonic() - origin)
                return
            read["bytes"] += len(data)
            time.sleep(0.01)

    sock.settimeout(0.2)
    if slow_reader:
        threading.Thread(target=reader, daemon=True).start()
    start = time.monotonic()
    view = memoryview(chunk)
    offset = 0
    while sent < total:
        now = time.monotonic()
        if now - start > FLOOD_LIMIT:
            break
        try:
            n = sock.send(view[offset:min(len(chunk), offset + total - sent)])
        except socket.timeout:
            continue
        except OSError as e:
            closed = closed_by(e)
            if closed is None:
                raise
            ended = closed.how
            break
        sent += n
        offset = (offset + n) % len(chunk)
        progress = time.monotonic()
    now = time.monotonic()
    took = now - start
    if ended is not None:
        what = f"closed by the server ({ended} on send) at {seconds(now - origin)}, after {sent / MiB:.0f} MiB"
    elif sent >= total:
        what = f"1 GiB of PINGs taken in {seconds(took)} ({sent / MiB / took:.0f} MiB/s); still open, attacker closed"
    elif now - progress >= STALL:
        what = (f"server stopped reading after {sent / MiB:.1f} MiB (no progress for the last "
                f"{seconds(now - progress)}); attacker gave up at {seconds(now - origin)}")
    else:
        what = (f"only {sent / MiB:.0f} MiB taken in {seconds(took)} ({sent / MiB / took:.0f} MiB/s); "
                "still open, attacker gave up")
    if slow_reader:
        time.sleep(0.05)
        what += f"; read {read['bytes'] / 1024:.0f} KiB of PONGs"
        if read["ended"]:
            what += f", reader saw {read['ended'][0]} at {seconds(read['ended'][1])}"
    done.set()
    sock.close()
    return what, time.monotonic() - origin


def ping_flood(port, client, origin):
    return flood(port, client, origin, slow_reader=False)


def ping_slow(port, client, origin):
    return flood(port, client, origin, slow_reader=True)


HUGE_DATA_LIMIT = 5.0  # seconds of data after a huge header
HUGE_REPEAT = 3.0  # seconds of new connections with huge headers


def huge_header(port, size):
    """One connection: the handshake, a header announcing `size` bytes,
    then data until the server ends the connection or HUGE_DATA_LIMIT.
    Returns (how it ended or None, seconds from the header, bytes sent
    after it)."""
    sock = handshake(port)
    sock.sendall(bytes([LONG]) + struct.pack(">Q", size))
    sock.setblocking(False)
    sent_at = time.monotonic()
    data = bytes(64 * 1024)
    taken = 0
    ended = None
    while ended is None and time.monotonic() - sent_at < HUGE_DATA_LIMIT:
        readable, writable, _ = select.select([sock], [sock], [], 0.05)
        try:
            if readable:
                if not sock.recv(65536):
                    ended = "EOF"
            elif writable:
                taken += sock.send(data)
        except BlockingIOError:
            pass
        except OSError as e:
            closed = closed_by(e)
            if closed is None:
                raise
            ended = closed.how
    after = time.monotonic() - sent_at
    sock.close()
    return ended, after, taken


def huge_frame(port, client, origin):
    # The pair again and again for HUGE_REPEAT s, so that the client has
    # an attack to be served during.
    sizes = (("2^62", 1 << 62), ("2^63-1", (1 << 63) - 1))
    outcomes = {label: [] for label, _ in sizes}
    start = time.monotonic()
    while not outcomes["2^62"] or time.monotonic() - start < HUGE_REPEAT:
        for label, size in sizes:
            outcomes[label].append(huge_header(port, size))
            if client.started is None:
                client.start()
            time.sleep(0.05)
    parts = []
    for label, results in outcomes.items():
        hows = sorted({how or "still open" for how, _, _ in results})
        times = sorted(after for _, after, _ in results)
        most = max(taken for _, _, taken in results)
        parts.append(f"{label}: {'/'.join(hows)} {seconds(times[len(times) // 2])} after the header "
                     f"(median of {len(results)}, slowest {seconds(times[-1])}; "
                     f"up to {most / MiB:.1f} MiB of data sent)")
    return "; ".join(parts), time.monotonic() - origin


MULTIPART_FRAMES = 1 << 24
MULTIPART_LIMIT = 60.0


def endless_multipart(port, client, origin, pid):
    sock = handshake(port)
    client.start()
    chunk = bytes([MORE, 0]) * (MiB // 2)
    total = MULTIPART_FRAMES * 2
    sent = 0
    ended = None
    start = time.monotonic()
    sock.settimeout(0.2)
    view = memoryview(chunk)
    while sent < total and time.monotonic() - start < MULTIPART_LIMIT:
        try:
            n = sock.send(view[sent % len(chunk):min(len(chunk), sent % len(chunk) + total - sent)])
        except socket.timeout:
            continue
        except OSError as e:
            closed = closed_by(e)
            if closed is None:
                raise
            ended = closed.how
            break
        sent += n
    took = time.monotonic() - start
    if ended:
        sock.close()
        return (f"closed by the server ({ended} on send) after {sent // 2 / 1e6:.1f} M frames, "
                f"at {seconds(time.monotonic() - origin)}"), time.monotonic() - origin
    # Let the server take what is still in the buffers: wait until its
    # RSS stops moving (1 s), up to 10 s, and see whether it closes.
    last, still, waited = rss_kib(pid), time.monotonic(), time.monotonic()
    while time.monotonic() - still < 1 and time.monotonic() - waited < 10:
        time.sleep(0.1)
        rss = rss_kib(pid)
        if rss != last:
            last, still = rss, time.monotonic()
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            try:
                if not sock.recv(4096):
                    ended = "EOF"
                    break
            except OSError as e:
                ended = (closed_by(e) or Closed(repr(e))).how
                break
    status = f"closed by the server ({ended})" if ended else "still open; attacker closed"
    what = (f"{sent // 2 / 1e6:.1f} M frames ({sent / MiB:.0f} MiB) sent in {seconds(took)}; "
            f"{status} at {seconds(time.monotonic() - origin)}")
    sock.close()
    return what, time.monotonic() - origin


DRIP_EVERY = 10.0


def drip(port, client, origin, count, until, client_delay):
    """`count` connections sending GREETING one byte every DRIP_EVERY s,
    until the server has closed them all or `until(elapsed, client)` says
    to stop. The client starts once every connection is established
    (behind them all in the server's accept queue), and `client_delay` s
    after they were started at the earliest, 5 s at the latest."""
    conns = {}
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        conns[sock] = {"index": 0, "end": None}
    connecting_at = time.monotonic()
    connected = None  # when the last connection was established
    next_drip = connecting_at
    open_ = set(conns)
    connecting = set(conns)

    def end(sock, how):
        conns[sock]["end"] = (how, time.monotonic() - origin)
        open_.discard(sock)
        connecting.discard(sock)

    while open_:
        now = time.monotonic()
        if not connecting and connected is None:
            connected = now - connecting_at
        if client.started is None and (
                (not connecting and now - connecting_at >= client_delay) or now - connecting_at >= 5):
            client.start()
        if until(now - origin, client):
            break
        if now >= next_drip:
            for sock in list(open_ - connecting):
                state = conns[sock]
                try:
                    state["index"] += sock.send(GREETING[state["index"]:state["index"] + 1])
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:
                    end(sock, (closed_by(e) or Closed(errno.errorcode.get(e.errno, repr(e)))).how)
            next_drip += DRIP_EVERY
        wait = max(min(next_drip - time.monotonic(), 0.1), 0)
        readable, writable, _ = select.select(list(open_), list(connecting), [], wait)
        for sock in writable:  # a connection established, or failed
            connecting.discard(sock)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                end(sock, "connect " + errno.errorcode.get(error, str(error)))
            elif conns[sock]["index"] == 0:  # its first byte at once
                try:
                    conns[sock]["index"] += sock.send(GREETING[:1])
                except OSError as e:
                    end(sock, (closed_by(e) or Closed(errno.errorcode.get(e.errno, repr(e)))).how)
        for sock in readable:
            if sock not in open_:
                continue
            try:
                if not sock.recv(4096):  # the server's greeting is thrown away
                    end(sock, "EOF")
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                end(sock, (closed_by(e) or Closed(errno.errorcode.get(e.errno, repr(e)))).how)
    left = time.monotonic() - origin
    if not connecting and connected is None:
        connected = time.monotonic() - connecting_at
    for sock in conns:
        sock.close()
    # "20/20 closed by the server: EOF at 30.0-30.1 s"
    groups = {}
    for state in conns.values():
        if state["end"]:
            groups.setdefault(state["end"][0], []).append(state["end"][1])
    parts = []
    for how, times in sorted(groups.items(), key=lambda item: min(item[1])):
        times.sort()
        spread = seconds(times[0]) if times[-1] - times[0] < 0.05 else f"{seconds(times[0])}-{seconds(times[-1])}"
        parts.append(f"{len(times)} {how} at {spread}")
    still = len(open_)
    if still:
        sent = sorted(conns[sock]["index"] for sock in open_)
        parts.append(f"{still} still open when the attacker left at {seconds(left)} "
                     f"({sent[0]}-{sent[-1]} greeting bytes sent)")
    established = (f"all established in {seconds(connected)}" if connected is not None
                   else f"{len(connecting)} never established")
    return f"{count} conns ({established}): " + ", ".join(parts), left


DRIP_LIMIT = 45.0  # the handshake interval, 30 s, and then some


def drip_greeting(port, client, origin):
    return drip(port, client, origin, 20, lambda elapsed, _: elapsed > DRIP_LIMIT, client_delay=0)


FD_LIMIT = 65.0  # two handshake intervals and then some


def fd_exhaust(port, client, origin):
    # Stop once the client has been served and the first handshake
    # interval (30 s) is over, or at FD_LIMIT.
    def until(elapsed, client):
        return elapsed > FD_LIMIT or (client.replies and elapsed > 32)

    return drip(port, client, origin, 140, until, client_delay=0.5)


PROBES = {
    "ping-flood": ping_flood,
    "ping-slow": ping_slow,
    "huge-frame": huge_frame,
    "endless-multipart": endless_multipart,
    "drip-greeting": drip_greeting,
    "fd-exhaust": fd_exhaust,
}


# --- Driver ------------------------------------------------------------------

def warm_up(context, endpoint, pid, timeout=15.0):
    """One round trip, once the server listens; raises if it never answers
    or exits first."""
    req = context.socket(zmq.REQ)
    req.linger = 0
    deadline = time.monotonic() + timeout
    try:
        req.connect(endpoint)
        req.send(b"warm-up")
        while not req.poll(100):
            if not alive(pid):
                raise RuntimeError(f"the server (pid {pid}) exited before it answered")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{endpoint} did not answer within {timeout} s")
        req.recv()
    finally:
        req.close()


def run(args):
    endpoint = f"tcp://127.0.0.1:{args.port}"
    context = zmq.Context()
    warm_up(context, endpoint, args.pid)
    time.sleep(0.5)  # the warm-up connection's close settles
    before = rss_kib(args.pid)
    cpu_before = cpu_seconds(args.pid)
    sampler = RssSampler(args.pid)
    sampler.start()
    origin = time.monotonic()
    client = Client(context, endpoint, origin)
    probe = PROBES[args.probe]
    try:
        if probe is endless_multipart:
            attacker, left = probe(args.port, client, origin, args.pid)
        else:
            attacker, left = probe(args.port, client, origin)
    except Exception as e:  # the attacker failed: still report the rest
        attacker, left = f"ATTACKER FAILED: {e!r}", time.monotonic() - origin
    time.sleep(2)
    after = rss_kib(args.pid)
    cpu_after = cpu_seconds(args.pid)
    stopped, pending_age = client.finish()
    sampler.finish()
    row = {
        "probe": args.probe,
        "server": args.server,
        "rss_kib": [before, max(sampler.peak, before or 0, after or 0), after],
        "client": describe_client(client, left, stopped, pending_age),
        "attacker": attacker,
        "cpu": None if cpu_after is None else round(cpu_after - cpu_before, 2),
        "alive": alive(args.pid),
        "seconds": round(time.monotonic() - origin, 1),
    }
    context.term()
    with open(args.results, "a") as results:
        results.write(json.dumps(row) + "\n")
    print(f"  {row['probe']} on {row['server']}: {format_rss(row)}; client {row['client']}; "
          f"attacker {row['attacker']}; server CPU {format_cpu(row)}"
          f"{'' if row['alive'] else '; SERVER DIED'}", flush=True)


def mib(kib):
    return "?" if kib is None else f"{kib / 1024:.1f}"


def format_rss(row):
    before, peak, after = row["rss_kib"]
    return f"{mib(before)} / {mib(peak)} / {mib(after)} MiB"


def format_cpu(row):
    if row["cpu"] is None:
        return "?"
    return f"{row['cpu']:.1f} s in {row['seconds']:.0f} s"


def table(args):
    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    print("| probe | server | RSS before / peak / after | other client served (worst rt) | attacker's connection "
          "| server CPU |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        attacker = row["attacker"] + ("" if row["alive"] else "; **server died**")
        print(f"| {row['probe']} | {row['server']} | {format_rss(row)} | {row['client']} | {attacker} | {format_cpu(row)} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run one probe against one server")
    run_parser.add_argument("probe", choices=PROBES)
    run_parser.add_argument("--server", required=True, help="the server's name in the table")
    run_parser.add_argument("--port", type=int, required=True)
    run_parser.add_argument("--pid", type=int, required=True)
    run_parser.add_argument("--results", required=True, help="JSON lines file to append to")
    table_parser = commands.add_parser("table", help="print the results as a Markdown table")
    table_parser.add_argument("results")
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    else:
        table(args)


if __name__ == "__main__":
    sys.exit(main())
