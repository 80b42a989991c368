"""Build a benchmark database of realistic contacts through the bulk path.

    python bench/build_db.py --contacts 1000000 --out bench/data/crm-1m.sqlite

The file is migrated from scratch through the project's migrations, then
filled in batches through ``crm.contacts.bulk.insert_contacts``: names from
about 25 Faker locales, a company for 85 %, unique e-mails, phones, billing
addresses in the locale's country, and about three tags each from 220 tags
with Zipf popularity (the first on about 26 %, "VIP" on about 7 %). One
extra contact has every field of the record filled (for the record benchmark).
"""

import argparse
import random
import time
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from common import (
    ADMIN_EMAIL,
    FILTER_TAG,
    FULL_RECORD_EMAIL,
    MIGRATIONS,
    PASSWORD,
    USER_EMAIL,
    app_config,
    on_path,
)

on_path()

# locale, ISO country, phone pattern (# is a random digit), e-mail domains
LOCALES = [
    ("en_US", "USA", "(2##) ###-####", ["example.com", "mail.example"]),
    ("en_US", "USA", "+1 3## ### ####", ["example.net"]),
    ("en_CA", "CAN", "+1 416 ### ####", ["example.ca"]),
    ("es_MX", "MEX", "+52 55 #### ####", ["example.mx"]),
    ("pt_BR", "BRA", "+55 11 9#### ####", ["example.com.br"]),
    ("en_GB", "GBR", "+44 20 7### ####", ["example.co.uk"]),
    ("de_DE", "DEU", "+49 30 #######", ["example.de"]),
    ("de_AT", "AUT", "+43 1 #######", ["example.at"]),
    ("fr_FR", "FRA", "+33 1 ## ## ## ##", ["example.fr"]),
    ("fr_CH", "CHE", "+41 22 ### ## ##", ["example.ch"]),
    ("es_ES", "ESP", "+34 91 ### ## ##", ["example.es"]),
    ("it_IT", "ITA", "+39 06 #### ####", ["example.it"]),
    ("nl_NL", "NLD", "+31 20 ### ####", ["example.nl"]),
    ("pt_PT", "PRT", "+351 21 ### ####", ["example.pt"]),
    ("pl_PL", "POL", "+48 22 ### ## ##", ["example.pl"]),
    ("sv_SE", "SWE", "+46 8 ### ### ##", ["example.se"]),
    ("da_DK", "DNK", "+45 3# ## ## ##", ["example.dk"]),
    ("no_NO", "NOR", "+47 2# ## ## ##", ["example.no"]),
    ("fi_FI", "FIN", "+358 9 ### ####", ["example.fi"]),
    ("cs_CZ", "CZE", "+420 2## ### ###", ["example.cz"]),
    ("hu_HU", "HUN", "+36 1 ### ####", ["example.hu"]),
    ("ro_RO", "ROU", "+40 21 ### ####", ["example.ro"]),
    ("tr_TR", "TUR", "+90 212 ### ## ##", ["example.com.tr"]),
    ("el_GR", "GRC", "+30 21# ### ####", ["example.gr"]),
    ("ru_RU", "RUS", "+7 495 ###-##-##", ["example.ru"]),
    ("ja_JP", "JPN", "+81 3-####-####", ["example.jp"]),
    ("ko_KR", "KOR", "+82 2-####-####", ["example.kr"]),
    ("zh_CN", "CHN", "+86 10 #### ####", ["example.cn"]),
    ("en_IN", "IND", "+91 22 #### ####", ["example.in"]),
    ("en_AU", "AUS", "+61 2 #### ####", ["example.com.au"]),
]
POOL = 300  # names of each kind drawn per locale
OWNERS = ["alice", "bruno", "chen", "dana"]
JOB_TITLES = ["Owner", "Manager", "Sales lead", "Accountant", "Engineer", "Buyer"]
LEAD_SOURCES = ["Web form", "Referral", "Trade show", "Cold call", "Partner"]
TAG_COUNT = 220
TOP_TAG_SHARE = 0.26
ZIPF_EXPONENT = 0.75
VIP_RANK = 6  # 0.26 * 6 ** -0.75 is about 7 %


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _digits(pattern: str, rng: random.Random) -> str:
    return "".join(str(rng.randrange(10)) if ch == "#" else ch for ch in pattern)


def _pools(rng: random.Random) -> list[dict]:
    """Names, companies and places per locale, drawn once from Faker."""
    from faker import Faker

    pools = []
    for locale, country, phone, domains in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(rng.randrange(1 << 30))
        cut = lambda values, n: [v[:n] for v in values]  # noqa: E731
        pools.append(
            {
                "country": country,
                "phone": phone,
                "domains": domains,
                "given": cut({fake.first_name() for _ in range(POOL)}, 40),
                "family": cut({fake.last_name() for _ in range(POOL)}, 40),
                "company": cut({fake.company() for _ in range(POOL // 3)}, 200),
                "street": cut([fake.street_address() for _ in range(POOL)], 75),
                "city": cut([fake.city() for _ in range(POOL // 2)], 50),
                "postcode": [fake.postcode()[:15] for _ in range(POOL // 2)],
            }
        )
    for pool in pools:
        for key in ("given", "family", "company"):
            pool[key] = sorted(pool[key])
    return pools


def tag_plan() -> list[tuple[str, float]]:
    """Tag names with the share of contacts that carry each one."""
    themes = [
        "Newsletter", "Webinar", "Customer", "Lead", "Event", "Trial",
        "Referral", "Partner", "Survey", "Download", "Promo",
    ]  # fmt: skip
    names = []
    for i in range(TAG_COUNT):
        names.append(f"{themes[i % len(themes)]} {2015 + i // len(themes)}")
    names[VIP_RANK - 1] = FILTER_TAG
    return [
        (name, TOP_TAG_SHARE * (rank**-ZIPF_EXPONENT))
        for rank, name in enumerate(names, start=1)
    ]


def _batch(start, count, pools, plan, owner_ids, rng, epoch):
    from crm.contacts.bulk import ContactData

    rows = []
    for n in range(start, start + count):
        pool = rng.choice(pools)
        given = rng.choice(pool["given"])
        family = rng.choice(pool["family"])
        local = f"{_ascii(given) or 'c'}.{_ascii(family) or 'contact'}{n}"
        fields = {
            "given_name": given,
            "family_name": family,
            "owner_id": rng.choice(owner_ids),
            "contact_type": rng.choice(("Lead", "Prospect", "Customer", "Partner")),
            "created_at": epoch + timedelta(seconds=n * 90 + rng.randrange(90)),
        }
        if rng.random() < 0.5:
            fields["job_title"] = rng.choice(JOB_TITLES)
        if rng.random() < 0.3:
            fields["lead_source"] = rng.choice(LEAD_SOURCES)
        phones = [{"number": _digits(pool["phone"], rng), "type": "Work"}]
        if rng.random() < 0.25:
            phones.append({"number": _digits(pool["phone"], rng), "type": "Mobile"})
        emails = [f"{local}@{rng.choice(pool['domains'])}"]
        if rng.random() < 0.1:
            emails.append(f"{local}@work.example")
        row = ContactData(
            fields=fields,
            company=rng.choice(pool["company"]) if rng.random() < 0.85 else None,
            emails=emails,
            phones=phones,
        )
        if rng.random() < 0.9:
            row.addresses["billing"] = {
                "line1": rng.choice(pool["street"]),
                "locality": rng.choice(pool["city"]),
                "postal_code": rng.choice(pool["postcode"]),
                "country_code": pool["country"],
            }
        rows.append(row)

    # Exact shares per tag: each tag picks its own sample of the batch.
    for name, share in plan:
        wanted = int(share * count + rng.random())
        for index in rng.sample(range(count), min(wanted, count)):
            rows[index].tags.append(name)
    return rows


def _users():
    from crm.auth import services

    admin = services.create_user(
        ADMIN_EMAIL, PASSWORD, name="Bench Admin", is_admin=True
    )
    services.create_user(USER_EMAIL, PASSWORD, name="Bench User")
    owners = [
        services.create_user(f"{name}@example.com", PASSWORD, name=name.title())
        for name in OWNERS
    ]
    return admin, owners


SHARED_EVERY = 10  # one contact in ten shared with the restricted user
OWNED_EVERY = 50  # and one in fifty owned by them


def restrict_bench_user() -> int:
    """Let the bench user see only what they own or what is shared with them.

    They get the "own" scope, every 50th contact and a view grant on every
    10th (about 12 % visible in all). Returns the number of grants written.
    """
    from sqlalchemy import func, insert, select, update

    from crm.access import services
    from crm.access.models import ContactShare
    from crm.auth.services import find_by_email
    from crm.contacts.models import Contact
    from crm.core.db import utcnow
    from crm.extensions import db

    user = find_by_email(USER_EMAIL)
    services.set_user_permissions(
        user, {"contacts": {"view_scope": "own", "edit_scope": "own"}}
    )
    db.session.execute(
        update(Contact)
        .where(Contact.id % OWNED_EVERY == 0)
        .values(owner_id=user.id)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        ContactShare.__table__.delete().where(ContactShare.user_id == user.id)
    )
    top = db.session.scalar(select(func.max(Contact.id))) or 0
    now = utcnow()
    grants = 0
    for start in range(SHARED_EVERY, top + 1, SHARED_EVERY * 10_000):
        rows = [
            {"contact_id": cid, "user_id": user.id, "level": "view", "granted_at": now}
            for cid in range(start, min(top, start + SHARED_EVERY * 10_000 - 1) + 1)
            if cid % SHARED_EVERY == 0 and cid % OWNED_EVERY
        ]
        if rows:
            db.session.execute(insert(ContactShare.__table__), rows)
            grants += len(rows)
    return grants


def full_record(owner_id):
    """One contact with every field of the record's top-row tabs filled."""
    from crm.contacts.bulk import ContactData

    return ContactData(
        fields={
            "prefix": "Dr.",
            "given_name": "Maximiliane",
            "middle_name": "Theresia",
            "family_name": "Vollständig",
            "suffix": "PhD",
            "preferred_name": "Maxi",
            "job_title": "Head of Procurement",
            "website": "https://full-record.example.com",
            "owner_id": owner_id,
            "contact_type": "Customer",
            "lead_source": "Trade show",
            "time_zone": "Europe/Berlin",
            "preferred_locale": "de",
            "birthday": date(1980, 5, 17),
            "anniversary": date(2008, 9, 6),
            "spouse_name": "Jonas Vollständig",
            "assistant_name": "Petra Klein",
            "assistant_phone": "+49 30 1234567",
            "referral_code": "FULL-2024",
            "billing_information": "Invoice quarterly, net 30",
            "person_notes": "Prefers e-mail. Met at the Berlin trade show.\n" * 5,
        },
        company="Vollständig Handels GmbH",
        emails=[FULL_RECORD_EMAIL, "max.v@work.example", "maxi@home.example"],
        phones=[
            {"number": "+49 30 1111111", "type": "Work", "extension": "12"},
            {"number": "+49 151 2222222", "type": "Mobile"},
            {"number": "+49 30 3333333", "type": "Home"},
            {"number": "+49 30 4444444", "type": "Other"},
            {"number": "+49 30 5555555", "type": "Work"},
        ],
        faxes=[
            {"number": "+49 30 6666666", "type": "Work"},
            {"number": "+49 30 7777777", "type": "Home"},
        ],
        addresses={
            kind: {
                "line1": f"Friedrichstraße {n}",
                "line2": f"Aufgang {kind[0].upper()}",
                "locality": "Berlin",
                "region": "Berlin",
                "postal_code": f"1011{n}",
                "country_code": "DEU",
            }
            for n, kind in enumerate(("billing", "shipping", "other"), start=1)
        },
        social=[
            {"type": "LINKED_IN", "name": "maxi-vollstaendig"},
            {"type": "TWITTER", "name": "maxi_v"},
            {"type": "FACEBOOK", "name": "maxi.vollstaendig"},
        ],
        tags=[FILTER_TAG, "Newsletter 2015", "Webinar 2015", "Customer 2015"]
        + [f"Event {2015 + i}" for i in range(6)],
    )


def build(out: Path, contacts: int, batch: int, seed: int) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import event

    from crm import create_app
    from crm.contacts.bulk import insert_contacts
    from crm.extensions import db

    rng = random.Random(seed)
    app = create_app(app_config(out))
    with app.app_context():
        # The fixture builder trades durability for speed; the import path
        # and the web app keep the project's own settings.
        event.listen(db.engine, "connect", _loading_pragmas)
        db.engine.dispose()
        upgrade(directory=str(MIGRATIONS), revision="heads")

        admin, owners = _users()
        db.session.commit()
        owner_ids = [u.id for u in owners]

        started = time.perf_counter()
        pools = _pools(rng)
        plan = tag_plan()
        print(f"pools from Faker in {time.perf_counter() - started:.1f} s")

        epoch = datetime.now(UTC) - timedelta(seconds=contacts * 90)
        loaded = time.perf_counter()
        for start in range(0, contacts, batch):
            count = min(batch, contacts - start)
            rows = _batch(start, count, pools, plan, owner_ids, rng, epoch)
            insert_contacts(rows, actor_id=admin.id)
            db.session.commit()
            done = start + count
            if done % 100_000 < batch or done == contacts:
                rate = done / (time.perf_counter() - loaded)
                print(f"{done:>9,} contacts  {rate:,.0f}/s", flush=True)
        insert_contacts([full_record(owner_ids[0])], actor_id=admin.id)
        db.session.commit()
        elapsed = time.perf_counter() - loaded
        grants = restrict_bench_user()
        db.session.commit()
        print(f"{USER_EMAIL}: own contacts only, {grants:,} shared with them")

        db.engine.dispose()
    size = out.stat().st_size / 1e6
    print(
        f"{contacts:,} contacts in {elapsed:.1f} s = {contacts / elapsed:,.0f} "
        f"contacts/s; file {size:,.0f} MB"
    )


def _loading_pragmas(dbapi_connection, connection_record):
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=OFF")
    cursor.execute("PRAGMA cache_size=-262144")
    cursor.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=Path("bench/data/crm-1m.sqlite"))
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--force", action="store_true", help="replace --out")
    parser.add_argument(
        "--restrict-only",
        action="store_true",
        help="only (re)apply the restricted bench user's grants to --out",
    )
    args = parser.parse_args()

    if args.restrict_only:
        from crm import create_app
        from crm.extensions import db

        with create_app(app_config(args.out)).app_context():
            grants = restrict_bench_user()
            db.session.commit()
        print(f"{USER_EMAIL}: own contacts only, {grants:,} shared with them")
        return

    if args.out.exists():
        if not args.force:
            parser.error(f"{args.out} exists; pass --force to replace it")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.out}{suffix}").unlink(missing_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    build(args.out, args.contacts, args.batch, args.seed)


if __name__ == "__main__":
    main()
