"""Pulls every payload, in order, on a PULL socket, and checks each.

    pull.py bind|connect ENDPOINT [--hold]
"""

import common


def main():
    args = common.parser(__doc__).parse_args()
    socket = common.open_socket("PULL", args)
    for i, payload in enumerate(common.payloads()):
        common.expect(common.recv(socket, f"message {i}"), payload, f"message {i}")
    common.done(socket, args)


if __name__ == "__main__":
    main()
