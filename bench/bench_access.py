"""List and search timings for an administrator and a restricted user, side by side.

    python bench/bench_access.py --database-url sqlite:////tmp/crm-1m.sqlite

Runs against a migrated database that already holds the contacts (for
instance a copy of the file ``bench/build_db.py`` builds: it is changed
here). It creates an administrator and a restricted user (own contacts
only), gives that user every 20th contact and shares 10 % of all contacts
(half with the user's team, half with other users), then times the contact
list and searches through the test client, alternating the two users so
machine noise hits both alike. Prints medians and the ratio restricted/admin.
"""

import argparse
import secrets
import statistics
import sys
import time

from common import on_path

on_path()

PASSWORD = "benchmark passphrase for loopback only"
ADMIN = "access-bench-admin@example.com"
USER = "access-bench-user@example.com"


def _prepare(db, share_fraction: float) -> None:
    from sqlalchemy import func, select, text

    from crm.access import services
    from crm.access.models import ContactShare
    from crm.auth import services as auth
    from crm.auth.models import User
    from crm.contacts.models import Contact

    if auth.find_by_email(USER) is not None:
        return
    auth.create_user(ADMIN, PASSWORD, is_admin=True)
    user = auth.create_user(USER, PASSWORD)
    services.set_user_permissions(
        user, {"contacts": {"view_scope": "own", "edit_scope": "own"}}
    )
    team = services.create_team("Benchmark team")
    services.set_member(team, user)
    others = [u.id for u in db.session.scalars(select(User).where(User.id != user.id))]
    db.session.commit()

    top = db.session.scalar(select(func.max(Contact.id)))
    db.session.execute(
        text("UPDATE contacts SET owner_id = :uid WHERE id % 20 = 0"), {"uid": user.id}
    )
    step = max(1, round(1 / share_fraction))
    rows = []
    for contact_id in range(1, top + 1, step):
        if contact_id % 2:
            rows.append({"contact_id": contact_id, "team_id": team.id, "level": "view"})
        else:
            target = others[contact_id % len(others)]
            rows.append({"contact_id": contact_id, "user_id": target, "level": "view"})
        if len(rows) >= 10_000:
            db.session.execute(ContactShare.__table__.insert(), rows)
            rows = []
    if rows:
        db.session.execute(ContactShare.__table__.insert(), rows)
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def _client(app, email):
    import re

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    if response.status_code != 302:
        raise SystemExit(f"could not sign in as {email}")
    return client


def _time(client, url) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    return elapsed * 1000


CASES = (
    ("first page", "/admin/contact/"),
    ("page 20", "/admin/contact/?page=19"),
    ("search common name", "/admin/contact/?search=maria"),
    ("search rare e-mail part", "/admin/contact/?search=example.org"),
    ("search 2 letters", "/admin/contact/?search=zo"),
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--share-fraction", type=float, default=0.1)
    parser.add_argument("--requests", type=int, default=15)
    args = parser.parse_args(argv)

    from crm import create_app
    from crm.extensions import db

    app = create_app(
        {"DATABASE_URL": args.database_url, "SECRET_KEY": secrets.token_hex(32)}
    )
    with app.app_context():
        started = time.perf_counter()
        _prepare(db, args.share_fraction)
        print(f"prepared in {time.perf_counter() - started:.1f} s", file=sys.stderr)

    admin, user = _client(app, ADMIN), _client(app, USER)
    print(f"{'case':28} {'admin ms':>9} {'user ms':>9} {'ratio':>6}")
    worst = 0.0
    for label, url in CASES:
        for client in (admin, user):  # warm-up
            _time(client, url)
        timings = {"admin": [], "user": []}
        for _ in range(args.requests):
            timings["admin"].append(_time(admin, url))
            timings["user"].append(_time(user, url))
        a, u = statistics.median(timings["admin"]), statistics.median(timings["user"])
        worst = max(worst, u / a)
        print(f"{label:28} {a:9.1f} {u:9.1f} {u / a:6.2f}")
    print(f"worst ratio {worst:.2f} (target at most 1.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
