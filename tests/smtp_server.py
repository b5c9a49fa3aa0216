"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

import socket


def free_port() -> int:
    # aiosmtpd's Controller cannot take port 0 (its start-up check connects to the port it
    # was given), so pick a free one first.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"
