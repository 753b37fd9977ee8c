"""Asks: a REQ or DEALER that sends every payload and checks each reply.

    ask.py REQ|DEALER bind|connect ENDPOINT [--identity ID] [--delimit] [--hold]

The answer expected is ``reply_to(payload)``. A DEALER talking to a REP
passes ``--delimit``: it writes the empty delimiter frame itself and sees
it again in front of the reply.
"""

import common


def main():
    parser = common.parser(__doc__, ["REQ", "DEALER"])
    parser.add_argument("--delimit", action="store_true", help="write the empty delimiter (a DEALER to a REP)")
    args = parser.parse_args()
    socket = common.open_socket(args.socket_type, args)
    envelope = [b""] if args.delimit else []
    for i, payload in enumerate(common.payloads()):
        common.send(socket, envelope + payload, f"request {i}")
        reply = common.recv(socket, f"reply {i}")
        common.expect(reply, envelope + common.reply_to(payload), f"reply {i}")
    common.done(socket, args)


if __name__ == "__main__":
    main()
