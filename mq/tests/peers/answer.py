"""Answers: a REP or ROUTER that expects every payload, in order, and
answers each with ``reply_to(payload)``.

    answer.py REP|ROUTER bind|connect ENDPOINT [--hold]

A ROUTER prints ``PEER <hex>`` with the routing id of the first request's
peer (every request must come from it), and accepts requests with a REQ's
envelope (``[id, "", body...]``) or a DEALER's (``[id, body...]``),
answering with the same envelope.
"""

import common


def main():
    args = common.parser(__doc__, ["REP", "ROUTER"]).parse_args()
    socket = common.open_socket(args.socket_type, args)
    peer = None
    for i, payload in enumerate(common.payloads()):
        request = common.recv(socket, f"request {i}")
        if args.socket_type == "REP":
            common.expect(request, payload, f"request {i}")
            common.send(socket, common.reply_to(payload), f"reply {i}")
            continue
        routing_id, body = request[0], request[1:]
        if peer is None:
            peer = routing_id
            print(f"PEER {peer.hex()}", flush=True)
        elif routing_id != peer:
            common.fail(f"request {i} from {routing_id.hex()}, not {peer.hex()}")
        envelope = [routing_id]
        if body != payload and body[:1] == [b""]:
            envelope.append(b"")
            body = body[1:]
        common.expect(body, payload, f"request {i}")
        common.send(socket, envelope + common.reply_to(payload), f"reply {i}")
    common.done(socket, args)


if __name__ == "__main__":
    main()
