"""The ceiling: how many messages a second the bench's SMTP server takes.

    python bench/bench_smtp_ceiling.py --messages 20000 --clients 1
    python bench/bench_smtp_ceiling.py --messages 20000 --clients 4

Starts the same counting aiosmtpd server ``bench_automation.py`` uses (its
own process, 127.0.0.1) and sends ``--messages`` small messages from
``--clients`` processes, each over one kept connection with plain smtplib
and no database: the most the CRM's workers could reach on this machine.
``--build`` makes each client build every message with ``email.message``
(the standard library's default policy) instead of sending prebuilt bytes.
"""

import argparse
import multiprocessing
import smtplib
import time

from common import on_path

on_path()

BODY = (
    b"From: bench@example.com\r\n"
    b"To: load%d@example.com\r\n"
    b"Subject: Benchmark\r\n"
    b"Message-ID: <%d.ceiling@example.com>\r\n"
    b"X-CRM-Idempotency-Key: ceiling-%d\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Benchmark e-mail\r\n"
)


def _built(i: int) -> bytes:
    from email.message import EmailMessage

    email = EmailMessage()
    email["From"] = "bench@example.com"
    email["To"] = f"load{i}@example.com"
    email["Subject"] = "Benchmark"
    email["Message-ID"] = f"<{i}.ceiling@example.com>"
    email["X-CRM-Idempotency-Key"] = f"ceiling-{i}"
    email.set_content("Benchmark e-mail")
    email.add_alternative("<p>Benchmark e-mail</p>", subtype="html")
    return email.as_bytes()


def _client(port, first, count, build, ready, go):
    ready.set()
    go.wait()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for i in range(first, first + count):
            data = _built(i) if build else BODY % (i, i, i)
            client.sendmail("bench@example.com", [f"load{i}@example.com"], data)


def run(messages: int, clients: int, build: bool) -> None:
    from bench_automation import SmtpProcess

    smtp = SmtpProcess().start()
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    share = messages // clients
    readies, processes = [], []
    for n in range(clients):
        ready = context.Event()
        readies.append(ready)
        processes.append(
            context.Process(
                target=_client,
                args=(smtp.port, n * share, share, build, ready, go),
            )
        )
    for process in processes:
        process.start()
    for ready in readies:
        ready.wait(30)
    began = time.perf_counter()
    go.set()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - began
    keys = smtp.keys()
    sent = share * clients
    print(
        f"clients={clients} messages={sent} "
        f"{'built with email.message' if build else 'prebuilt bytes'}: "
        f"{sent / elapsed:,.0f} messages/s ({elapsed:.1f} s), "
        f"server received {len(keys)}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--build", action="store_true")
    args = parser.parse_args()
    run(args.messages, args.clients, args.build)


if __name__ == "__main__":
    main()
