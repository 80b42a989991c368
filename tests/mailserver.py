"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), and its fixture.

``smtp_server`` yields a server with ``.url`` (for CRM_MAIL_URL),
``.messages`` (parsed EmailMessage objects, in arrival order),
``.wait_for(n)``, ``.refuse_with`` (an SMTP reply such as
"550 5.1.1 No such user" that the server then gives to every DATA) and
``.refuse_for`` (recipient address -> reply, for the DATA of that one).
"""

import email
import socket
import threading
from email import policy

import pytest
from aiosmtpd.controller import Controller


class _Handler:
    def __init__(self, server):
        self.server = server

    async def handle_DATA(self, smtp_server, session, envelope):
        if self.server.refuse_with:
            return self.server.refuse_with
        for recipient in envelope.rcpt_tos:
            if recipient in self.server.refuse_for:
                return self.server.refuse_for[recipient]
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.server.arrived:
            self.server.envelopes.append(envelope)
            self.server.messages.append(message)
            self.server.arrived.notify_all()
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServer:
    def __init__(self):
        self.messages = []
        self.envelopes = []
        self.refuse_with = None
        self.refuse_for = {}
        self.arrived = threading.Condition()
        self.port = _free_port()
        self.controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list:
        """Block until ``count`` messages arrived; fail the test otherwise."""
        with self.arrived:
            ok = self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        assert ok, f"expected {count} message(s), got {len(self.messages)}"
        return self.messages[:count]

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def clear(self):
        """Forget what arrived and accept mail again (a test starts clean)."""
        with self.arrived:
            self.messages.clear()
            self.envelopes.clear()
        self.refuse_with = None
        self.refuse_for = {}


@pytest.fixture(scope="session")
def _smtp_server_of_this_process():
    # One server per test process: its address stays the same, so the app
    # built for a mail test can be reused by the next (tests/conftest.py).
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server(_smtp_server_of_this_process):
    server = _smtp_server_of_this_process
    server.clear()
    yield server
    server.clear()
