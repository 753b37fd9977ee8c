"""Pushes every payload, in order, from a PUSH socket.

    push.py bind|connect ENDPOINT [--hold]

Closing waits (up to the linger time) until everything has been sent.
"""

import common


def main():
    args = common.parser(__doc__).parse_args()
    socket = common.open_socket("PUSH", args)
    for i, payload in enumerate(common.payloads()):
        common.send(socket, payload, f"message {i}")
    common.done(socket, args)


if __name__ == "__main__":
    main()
