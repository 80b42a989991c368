"""One SMTP connection for a batch of deliveries (``transport.kept_open``)."""

from email.message import EmailMessage

import pytest

from crm.mail import transport
from tests.mailserver import smtp_server  # noqa: F401 (fixture)


@pytest.fixture
def app_config(app_config, smtp_server):  # noqa: F811
    return {**app_config, "MAIL_URL": smtp_server.url}


def message(n):
    email = EmailMessage()
    email["From"] = "crm@example.com"
    email["To"] = f"to{n}@example.com"
    email["Subject"] = f"Batch {n}"
    email.set_content("hello")
    return email


def test_deliveries_inside_kept_open_share_one_connection(app, smtp_server):  # noqa: F811
    with app.app_context(), transport.kept_open():
        transport.deliver(message(1))
        [client] = transport._kept.get()
        transport.deliver(message(2))
        assert transport._kept.get() == [client]

        # A connection the server dropped is opened again, nothing is lost.
        client.close()
        transport.deliver(message(3))
        [again] = transport._kept.get()
        assert again is not client

    assert transport._kept.get() is None
    received = smtp_server.wait_for(3)
    assert [m["Subject"] for m in received] == ["Batch 1", "Batch 2", "Batch 3"]
