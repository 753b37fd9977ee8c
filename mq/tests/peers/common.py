"""What the pyzmq peers of dhaga-mq's interop tests share.

Each peer is one pyzmq socket driven by a small script: it binds or
connects, prints ``READY <endpoint>`` (the endpoint as bound, with the port
the system picked), does its part of an exchange, prints ``DONE`` and
exits. The Rust test (``mq/tests/interop_pyzmq.rs``) reads these lines.
A peer that sees something unexpected prints the reason on stderr and
exits with status 1; one that waits too long times out, saying what it
waited for; and every peer ends itself after ``LIFETIME_S`` whatever
happens, saying so.

``frame`` and ``payloads`` build the same bytes as the Rust side's
``mq/tests/interop/mod.rs``, and ``topics`` the same as
``mq/tests/interop_pyzmq.rs``.
"""

import argparse
import signal
import sys

import zmq

#: How long a send or receive may wait, in milliseconds.
TIMEOUT_MS = 10_000

#: A peer ends itself after this many seconds (SIGALRM), whatever happens.
LIFETIME_S = 60

#: The largest frame exchanged: 1 MiB.
BIG = 1 << 20

_CYCLE = bytes(range(251))


def frame(length, seed):
    """``length`` bytes counting from ``seed`` modulo 251."""
    start = seed % 251
    repeats = (start + length) // len(_CYCLE) + 1
    return (_CYCLE * repeats)[start : start + length]


def payloads():
    """The messages every exchange carries, in order: one frame, one empty
    frame, 255 and 256 bytes (either side of ZMTP's short/long frame
    boundary), 1 MiB, and a multipart message with all of them."""
    return [
        [b"hello"],
        [b""],
        [frame(255, 1)],
        [frame(256, 2)],
        [frame(BIG, 3)],
        [b"multi", b"", frame(255, 4), frame(256, 5), b"", frame(BIG, 6), b"end"],
    ]


#: Publish-subscribe: the two markers a publisher sends until its
#: subscriber is ready (see ``sub.py``), and the message that ends the
#: filter exchange.
CONNECTED = b"\x01connected"
SUBSCRIBED = b"\x01subscribed"
MARKERS = [[CONNECTED], [SUBSCRIBED]]
END = b"END"

#: Publish-subscribe: the topic frame in front of every payload.
PAYLOAD_TOPIC = b"P"


def topics():
    """The one-frame messages a publisher sends, in order, to show which
    ones its subscriber's prefixes let through: some with a common start,
    one a prefix of another, an empty one."""
    return [b"10001 12 34", b"10002 1 1", b"2", b"20 x", b"1000", b"", b"10001 ", b"3", b"A2"]


def reply_to(request):
    """The answer to ``request``: a marker frame, then the request."""
    return [b"re:"] + list(request)


def show(frames):
    """Frames briefly: each one's length and first bytes."""
    return "[" + ", ".join(f"{len(f)}B {bytes(f[:12])!r}" for f in frames) + "]"


def fail(reason):
    """Ends the peer with ``reason`` on stderr and status 1."""
    print(f"{sys.argv[0]}: {reason}", file=sys.stderr, flush=True)
    sys.exit(1)


def expect(got, want, what):
    """Fails unless the frames ``got`` are ``want``."""
    if list(got) != list(want):
        fail(f"{what}: got {show(got)}, want {show(want)}")


def parser(description, socket_types=None):
    """The command line every peer takes:
    ``[TYPE] bind|connect ENDPOINT [--identity ID] [--hold]``, and the
    security options (CURVE or PLAIN, client or server)."""
    parser = argparse.ArgumentParser(description=description)
    if socket_types:
        parser.add_argument("socket_type", choices=socket_types)
    parser.add_argument("mode", choices=["bind", "connect"])
    parser.add_argument("endpoint")
    parser.add_argument("--identity", help="ZMQ_ROUTING_ID to set before connecting")
    parser.add_argument(
        "--curve-secret",
        help="CURVE: this Z85 secret key; a server's, unless --curve-serverkey makes a client",
    )
    parser.add_argument("--curve-serverkey", help="CURVE client: the server's Z85 public key")
    parser.add_argument("--plain", help="PLAIN client: USER:PASS")
    parser.add_argument(
        "--plain-server",
        help="PLAIN server admitting USER:PASS (a ZAP handler, zmq.auth's ThreadAuthenticator, checks it)",
    )
    parser.add_argument(
        "--hold",
        action="store_true",
        help="after DONE, stay (until killed, stdin ends or the lifetime ends)",
    )
    return parser


def open_socket(socket_type, args):
    """A socket of ``socket_type`` (a name such as ``"REP"``) with timeouts,
    bound or connected as ``args`` say; prints ``READY <endpoint>``."""
    signal.signal(signal.SIGALRM, _lifetime_ended)
    signal.alarm(LIFETIME_S)
    socket = zmq.Context.instance().socket(getattr(zmq, socket_type))
    socket.rcvtimeo = TIMEOUT_MS
    socket.sndtimeo = TIMEOUT_MS
    socket.linger = TIMEOUT_MS
    if args.identity:
        socket.setsockopt(zmq.ROUTING_ID, args.identity.encode())
    _secure(socket, args)
    if args.mode == "bind":
        socket.bind(args.endpoint)
    else:
        socket.connect(args.endpoint)
    print(f"READY {socket.last_endpoint.decode()}", flush=True)
    return socket


#: The ZAP handler of a PLAIN server, kept while the peer runs, and the
#: monitor that tells when its handshake is over (see ``done``).
_authenticator = None
_handshakes = None


def _secure(socket, args):
    """Makes ``socket`` a CURVE or PLAIN client or server as ``args`` say."""
    global _authenticator, _handshakes
    if args.curve_secret:
        secret = args.curve_secret.encode()
        socket.curve_secretkey = secret
        socket.curve_publickey = zmq.curve_public(secret)
        if args.curve_serverkey:
            socket.curve_serverkey = args.curve_serverkey.encode()
        else:
            socket.curve_server = True
    if args.plain:
        user, password = args.plain.split(":", 1)
        socket.plain_username = user.encode()
        socket.plain_password = password.encode()
    if args.plain_server:
        from zmq.auth.thread import ThreadAuthenticator

        user, password = args.plain_server.split(":", 1)
        _authenticator = ThreadAuthenticator(zmq.Context.instance())
        _authenticator.start()
        _authenticator.configure_plain(domain="*", passwords={user: password})
        _handshakes = socket.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        socket.plain_server = True


def _lifetime_ended(_signum, _frame):
    fail(f"still running after its lifetime, {LIFETIME_S} s: killed by its alarm")


def done(socket, args):
    """Prints ``DONE``; holds if asked to; closes (sending what is queued).

    A holding peer keeps its socket open until the test kills it (or ends:
    then its stdin ends too), or its lifetime ends."""
    print("DONE", flush=True)
    if args.hold:
        sys.stdin.read()
    if _handshakes is not None:
        # A peer that only sends gets here before its handshake, which needs
        # the ZAP handler: it stays until then.
        if not _handshakes.poll(TIMEOUT_MS):
            fail(f"no handshake within {TIMEOUT_MS} ms")
        socket.disable_monitor()
        _handshakes.close()
    socket.close()
    if _authenticator is not None:
        _authenticator.stop()
    zmq.Context.instance().term()


def recv(socket, what):
    """Receives a whole message, failing on a timeout."""
    try:
        return socket.recv_multipart()
    except zmq.Again:
        fail(f"{what}: nothing received within {TIMEOUT_MS} ms")


def send(socket, frames, what):
    """Sends a whole message, failing on a timeout."""
    try:
        socket.send_multipart(frames)
    except zmq.Again:
        fail(f"{what}: could not send within {TIMEOUT_MS} ms")
