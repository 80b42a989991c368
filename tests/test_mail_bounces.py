"""Bounce reports (RFC 3464): hard and soft, from a folder, a file and IMAP."""

import socketserver
import threading

import pytest
from sqlalchemy import select

from crm.activity.models import ActivityEvent
from crm.mail import bounces, services, statuses
from crm.mail.models import Message

NOTICE = """From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
To: crm@example.com
Subject: {subject}
Date: Thu, 3 Dec 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="3F2A1.1764756000/mx.example.org"

This is a MIME-encapsulated message.

--3F2A1.1764756000/mx.example.org
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--3F2A1.1764756000/mx.example.org
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org
X-Postfix-Queue-ID: 3F2A1
Arrival-Date: Thu,  3 Dec 2026 09:59:58 +0000 (UTC)

Final-Recipient: rfc822; {address}
Original-Recipient: rfc822;{address}
Action: {action}
Status: {status}
Remote-MTA: dns; mail.example.com
Diagnostic-Code: smtp; {diagnostic}

--3F2A1.1764756000/mx.example.org
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: crm@example.com
To: {address}
Subject: Hello
X-CRM-Message: {message_id}

--3F2A1.1764756000/mx.example.org--
"""


def report(address="jane@example.com", status="5.1.1", message_id=""):
    hard = status.startswith("5")
    return NOTICE.format(
        subject="Undelivered Mail Returned to Sender" if hard else "Delayed Mail",
        address=address,
        action="failed" if hard else "delayed",
        status=status,
        diagnostic=(
            f"550 {status} <{address}>: Recipient address rejected"
            if hard
            else f"452 {status} Mailbox full"
        ),
        message_id=message_id,
    ).encode()


@pytest.fixture
def jane(db, make_contact):
    contact = make_contact("Jane", "Doe", email="jane@example.com")
    services.opt_in("jane@example.com", "Signed up", None)
    db.session.commit()
    return contact


def _status():
    return services.find_status("jane@example.com")


@pytest.mark.parametrize(
    ("status", "address", "expected"),
    [
        ("5.1.1", "jane@example.com", "5.1.1"),
        ("4.2.2", "Jane@Example.com", "4.2.2"),
        ("5.7.1", "bob@example.net", "5.7.1"),
    ],
)
def test_reports_are_parsed_to_recipient_and_status(status, address, expected):
    [bounce] = bounces.parse(report(address, status, "42"))
    assert (bounce.address, bounce.code, bounce.message_id) == (address, expected, 42)


def test_a_plain_message_is_not_a_report():
    assert bounces.parse(b"From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n") == []


def test_a_hard_bounce_from_a_folder_blocks_all_mail(db, runner, tmp_path, jane, app):
    (tmp_path / "one.eml").write_bytes(report(status="5.1.1"))
    (tmp_path / "note.eml").write_bytes(b"Subject: not a report\r\n\r\nhi\r\n")

    result = runner.invoke(args=["mail", "bounces", "--dir", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert "jane@example.com 5.1.1 -> hard" in result.output
    assert "note.eml: not a delivery report" in result.output
    db.session.expire_all()
    row = _status()
    assert row.status == statuses.HARD_BOUNCE and row.hard_bounces == 1
    assert row.changes[0].source == "bounce"
    [event] = db.session.scalars(
        select(ActivityEvent).where(ActivityEvent.kind == "email_bounced")
    ).all()
    assert event.contact_id == jane.id and event.data["kind"] == "hard"
    app.config["MAIL_URL"] = "smtp://127.0.0.1:1"
    with pytest.raises(services.MailRefused):
        services.send_message(
            contact_id=jane.id,
            address="jane@example.com",
            subject="x",
            html="x",
            purpose="one_to_one",
        )


def test_soft_bounces_count_and_escalate_at_the_limit(db, runner, tmp_path, jane, app):
    app.config["MAIL_SOFT_BOUNCE_LIMIT"] = 3
    path = tmp_path / "soft.eml"
    path.write_bytes(report(status="4.2.2"))
    outcomes = []
    for _ in range(3):
        result = runner.invoke(args=["mail", "bounces", "--file", str(path)])
        assert result.exit_code == 0, result.output
        outcomes.append(result.output.split("-> ")[1].split()[0])
        db.session.expire_all()
        if len(outcomes) < 3:
            assert _status().status == statuses.SINGLE_OPT_IN
    assert outcomes == ["soft", "soft", "escalated"]
    row = _status()
    assert row.status == statuses.BOUNCE and row.soft_bounces == 3


def test_a_bounce_names_the_message_it_answers(db, jane, app, smtp_server):
    app.config["MAIL_URL"] = smtp_server.url
    message = services.send_message(
        contact_id=jane.id,
        address="jane@example.com",
        subject="Hi",
        html="<p>Hi</p>",
        purpose="one_to_one",
    )
    db.session.commit()
    [(bounce, outcome)] = bounces.apply(report(message_id=str(message.id)))
    db.session.commit()
    assert bounce.message_id == message.id and outcome == "hard"
    assert db.session.get(Message, message.id).error == "bounced 5.1.1"


def test_the_cli_without_a_source_says_what_to_give(runner):
    result = runner.invoke(args=["mail", "bounces"])
    assert result.exit_code != 0 and "Give --dir, --file or --imap" in result.output


class _Imap(socketserver.StreamRequestHandler):
    """Just enough IMAP4rev1 for imaplib: login, select, search, fetch, store."""

    def handle(self):
        mailbox = self.server.mailbox
        self.wfile.write(b"* OK IMAP4rev1 test server ready\r\n")
        while line := self.rfile.readline():
            tag, _sp, rest = line.decode().strip().partition(" ")
            command = rest.split(" ", 1)[0].upper()
            if command == "CAPABILITY":
                self._say(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN")
            elif command == "LOGIN":
                self.server.logins.append(rest.split(" ")[1:])
            elif command == "SELECT":
                self._say(f"* {len(mailbox)} EXISTS".encode())
            elif command == "SEARCH":
                unseen = [str(i + 1) for i, m in enumerate(mailbox) if not m["seen"]]
                self._say(("* SEARCH " + " ".join(unseen)).encode())
            elif command == "FETCH":
                number = int(rest.split(" ")[1])
                raw = mailbox[number - 1]["raw"]
                self.wfile.write(
                    f"* {number} FETCH (RFC822 {{{len(raw)}}}\r\n".encode()
                    + raw
                    + b")\r\n"
                )
            elif command == "STORE":
                mailbox[int(rest.split(" ")[1]) - 1]["seen"] = True
            elif command == "LOGOUT":
                self._say(b"* BYE")
                self._say(f"{tag} OK done".encode())
                return
            self._say(f"{tag} OK done".encode())

    def _say(self, data: bytes):
        self.wfile.write(data + b"\r\n")


@pytest.fixture
def imap_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Imap)
    server.daemon_threads = True
    server.mailbox, server.logins = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_reports_are_read_over_imap_and_marked_seen(db, runner, app, jane, imap_server):
    imap_server.mailbox.extend(
        [
            {"raw": report(status="5.1.1"), "seen": False},
            {"raw": report("old@example.com", "5.1.1"), "seen": True},
        ]
    )
    port = imap_server.server_address[1]
    app.config["BOUNCE_IMAP_URL"] = f"imap://bounces:s3cret@127.0.0.1:{port}/INBOX"

    result = runner.invoke(args=["mail", "bounces", "--imap"])

    assert result.exit_code == 0, result.output
    assert "Read 1 message(s) from IMAP" in result.output
    # imaplib quotes the password on the wire.
    assert imap_server.logins == [["bounces", '"s3cret"']]
    assert imap_server.mailbox[0]["seen"] is True
    db.session.expire_all()
    assert _status().status == statuses.HARD_BOUNCE
    assert services.find_status("old@example.com") is None


def test_an_unreachable_imap_server_is_a_clear_error(runner, app):
    from tests.mailserver import _free_port

    app.config["BOUNCE_IMAP_URL"] = f"imap://u:p@127.0.0.1:{_free_port()}/INBOX"
    result = runner.invoke(args=["mail", "bounces", "--imap"])
    assert result.exit_code != 0
    assert "IMAP:" in result.output and "Traceback" not in result.output
