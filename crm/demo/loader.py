"""The demo data set: accounts, tags, link types, a custom tab, sample contacts.

It ends with the published welcome campaign of ``crm.demo.campaign``.

Everything goes through the domains' own services, and the contacts come in
through the importer users use, from ``sample-contacts.csv`` next to this
module. Loading twice adds nothing twice: accounts, tags, link types, fields,
teams, grants and links are looked up before they are made, and the importer
skips contacts whose e-mail address is already there. The caller commits.

The demo accounts get random passwords on the first run, kept in
``instance/demo-credentials.txt`` so each run can show them again. This is
demo mode only: outside it the loader refuses to run, so no install ever has
a known password.
"""

import csv
import io
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from crm.access import services as access
from crm.auth import services as users
from crm.auth.models import User
from crm.auth.passwords import verify_password
from crm.contacts.models import Contact, ContactEmail
from crm.core.errors import ServiceError
from crm.core.text import clean, fold, normalize_email
from crm.customfields.models import CustomField, CustomHeader, CustomTab
from crm.customfields.services import check_definition, field_by_name
from crm.demo import campaign as demo_campaign
from crm.demo import web as demo_web
from crm.extensions import db
from crm.imports import engine
from crm.links import services as links
from crm.links.models import LinkType
from crm.tags import services as tags

log = logging.getLogger(__name__)

SAMPLE_FILE = Path(__file__).resolve().parent / "sample-contacts.csv"
CREDENTIALS_FILE = "demo-credentials.txt"


def public_url(path: str) -> str:
    """Where bin/demo serves ``path`` (its PORT, 5000 by default)."""
    return f"http://127.0.0.1:{os.environ.get('PORT', '5000')}{path}"


def login_url() -> str:
    return public_url("/login")


ADMIN_EMAIL = "demo@example.com"


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    is_admin: bool = False
    own_only: bool = False


DEMO_USERS = (
    DemoUser(ADMIN_EMAIL, "Demo Admin", is_admin=True),
    DemoUser("sofia.marquez@example.com", "Sofía Márquez"),
    # Sees only own contacts, those shared with him and his team's: the
    # Access privileges tab has something to show.
    DemoUser("kenji.ito@example.com", "Kenji Itō", own_only=True),
)
TEAM = "Sales"

TAG_CATEGORIES = {
    "Status": ("VIP", "Hot lead", "Cold lead", "Churn risk"),
    "Marketing": (
        "Newsletter",
        "Webinar 2026",
        "Trade fair Madrid",
        "Referral",
        "Website form",
    ),
    "Products": ("Product: Starter", "Product: Pro", "Product: Enterprise"),
    "Region": ("Region: EMEA", "Region: Americas", "Region: APAC"),
}

LINK_TYPES = (("Spouse", 1), ("Colleague", 10))

CUSTOM_TAB = "Preferences"
CUSTOM_HEADER = "Purchasing"
CUSTOM_FIELDS = (
    (
        "Favourite Product",
        "dropdown",
        "Starter plan\nPro plan\nEnterprise plan\nConsulting",
    ),
    ("Customer Since", "date", None),
)

# Grants made by the loader: the own-only user gets to see two of Sofía's
# contacts, and the team may edit one of the administrator's.
USER_GRANTS = 2
TEAM_GRANTS = 1


@dataclass
class LoadResult:
    """What one run of the loader found and did."""

    admin: User
    password: str
    credentials: Path
    contacts: int = 0
    imported: int = 0
    skipped: int = 0
    failed: int = 0
    problems: int = 0


# Credentials ---------------------------------------------------------------


def credentials_path() -> Path:
    """Where the demo passwords are kept: instance/demo-credentials.txt."""
    return Path(current_app.instance_path) / CREDENTIALS_FILE


def read_credentials(path: Path) -> dict[str, str]:
    """The e-mail -> password pairs of the credentials file (empty when absent)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    pairs = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#"):
            pairs[normalize_email(parts[0])] = parts[1]
    return pairs


def write_credentials(path: Path, pairs: dict[str, str]) -> None:
    """Store the demo passwords, readable by the owner of the file only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Demo accounts (demo mode only). Sign in at " + login_url(),
        *(f"{email} {password}" for email, password in pairs.items()),
    ]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


def demo_passwords() -> dict[str, str]:
    """The demo accounts' passwords: stored ones, new random ones for the rest."""
    path = credentials_path()
    stored = read_credentials(path)
    pairs = {
        user.email: stored.get(user.email) or secrets.token_urlsafe(15)
        for user in DEMO_USERS
    }
    if pairs != stored:
        write_credentials(path, pairs)
    return pairs


# Accounts, team and permissions --------------------------------------------


def ensure_user(spec: DemoUser, password: str) -> User:
    """The demo account, created or brought back to the stored password."""
    user = users.find_by_email(spec.email)
    if user is None:
        user = users.create_user(
            spec.email, password, name=spec.name, is_admin=spec.is_admin
        )
        return user
    if not verify_password(user.password_hash, password):
        users.set_password(user, password)
        log.info("demo password of %s reset to the stored one", user.email)
    if spec.is_admin and not (user.is_admin and user.active):
        user.is_admin, user.active = True, True
    return user


def ensure_team(admin: User, members: list[User]):
    """The demo team, with the first member as its manager."""
    team = access.find_team(TEAM) or access.create_team(TEAM, actor=admin)
    present = {member.user_id for member in team.members}
    for index, user in enumerate(members):
        if user.id not in present:
            access.set_member(team, user, is_manager=index == 0, actor=admin)
    return team


def ensure_accounts(passwords: dict[str, str]) -> dict[str, User]:
    """Every demo account, with the own-only ones restricted."""
    accounts = {}
    for spec in DEMO_USERS:
        user = ensure_user(spec, passwords[spec.email])
        if spec.own_only:
            access.set_user_permissions(
                user,
                {"contacts": {"view_scope": "own", "edit_scope": "own"}},
                actor=accounts[ADMIN_EMAIL],
            )
        accounts[spec.email] = user
    return accounts


# Reference data ------------------------------------------------------------


def ensure_tags() -> None:
    """The demo tags, each in its category."""
    for category, names in TAG_CATEGORIES.items():
        for name in names:
            tags.get_or_create_tag(name, category)


def ensure_link_types() -> dict[str, LinkType]:
    """The demo link types by name."""
    found = {}
    for name, max_links in LINK_TYPES:
        link_type = db.session.scalar(select(LinkType).where(LinkType.name == name))
        if link_type is None:
            link_type = LinkType(name=name, max_links=max_links)
            links.check_type(link_type)
            db.session.add(link_type)
            db.session.flush()
        found[name] = link_type
    return found


def ensure_custom_tab() -> None:
    """The Preferences tab with the fields the sample file fills."""
    tab = db.session.scalar(select(CustomTab).where(CustomTab.name == CUSTOM_TAB))
    if tab is None:
        tab = CustomTab(name=CUSTOM_TAB, position=1)
        db.session.add(tab)
    header = next((h for h in tab.headers if h.name == CUSTOM_HEADER), None)
    if header is None:
        header = CustomHeader(tab=tab, name=CUSTOM_HEADER, position=1)
        db.session.add(header)
    db.session.flush()

    for position, (label, field_type, options) in enumerate(CUSTOM_FIELDS, 1):
        if field_by_name(label) is not None:
            continue
        field = CustomField(
            header_id=header.id,
            label=label,
            field_type=field_type,
            options=options,
            position=position,
        )
        check_definition(field)
        db.session.add(field)
        db.session.flush()


# Contacts ------------------------------------------------------------------


def sample_rows() -> tuple[list[str], list[list[str]]]:
    """The header and rows of the sample file."""
    with SAMPLE_FILE.open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def _csv_bytes(header, rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _owner_of(row_owner: str) -> DemoUser:
    """The demo account a row's Owner cell names (Keap writes the owner's name)."""
    key = fold(row_owner)
    return next((u for u in DEMO_USERS if fold(u.name) == key), DEMO_USERS[0])


def import_sample(admin: User, accounts: dict[str, User], result: LoadResult):
    """Import the sample file, each demo user's rows with that user as owner.

    The importer gives all contacts of a run one owner, so the file goes in
    one run per owner named in its Owner column.
    """
    header, rows = sample_rows()
    owner_column = header.index("Owner")
    by_owner: dict[str, list[list[str]]] = {}
    for row in rows:
        by_owner.setdefault(_owner_of(row[owner_column]).email, []).append(row)

    options = engine.ImportOptions(preset="keap", on_duplicate="skip")
    for owner_email, owner_rows in by_owner.items():
        run = engine.run(
            _csv_bytes(header, owner_rows),
            actor=admin,
            owner=accounts[owner_email],
            options=options,
            name=f"{SAMPLE_FILE.name} ({owner_email})",
        )
        result.imported += run.created
        result.skipped += run.skipped + run.updated
        result.failed += run.failed
        result.problems += run.problem_count
        for problem in run.problems:
            log.warning("demo import: %s", problem)


def _contacts_by_email(emails) -> dict[str, Contact]:
    keys = {normalize_email(e) for e in emails if e}
    query = (
        select(ContactEmail.normalized, Contact)
        .join(Contact, Contact.id == ContactEmail.contact_id)
        .where(ContactEmail.normalized.in_(keys), ContactEmail.slot == 1)
    )
    return {key: contact for key, contact in db.session.execute(query)}


def ensure_links(admin: User, link_types: dict[str, LinkType]) -> None:
    """Spouses (from the file's Spouse Name) and colleagues at one company."""
    header, rows = sample_rows()
    col = {name: header.index(name) for name in ("First Name", "Last Name", "Email")}
    email_of_name = {
        fold(f"{row[col['First Name']]} {row[col['Last Name']]}"): row[col["Email"]]
        for row in rows
    }
    contacts = _contacts_by_email(row[col["Email"]] for row in rows)

    pairs = []
    spouse, company = header.index("Spouse Name"), header.index("Company")
    for row in rows:
        partner = email_of_name.get(fold(row[spouse]))
        if partner and normalize_email(row[col["Email"]]) < normalize_email(partner):
            pairs.append((row[col["Email"]], partner, link_types["Spouse"]))
    first_at: dict[str, str] = {}
    for row in rows:
        name = clean(row[company])
        if not name:
            continue
        if name in first_at:
            # Spouses who work together are linked once, as spouses.
            linked = {frozenset(pair[:2]) for pair in pairs}
            if frozenset((first_at[name], row[col["Email"]])) not in linked:
                pairs.append(
                    (first_at[name], row[col["Email"]], link_types["Colleague"])
                )
        else:
            first_at[name] = row[col["Email"]]

    for email_a, email_b, link_type in pairs:
        a = contacts.get(normalize_email(email_a))
        b = contacts.get(normalize_email(email_b))
        if a is None or b is None or links.find_link(a, b, link_type) is not None:
            continue
        try:
            with db.session.begin_nested():
                links.link(a, b, link_type, actor=admin)
        except ServiceError as exc:
            log.info("demo link %s - %s left out: %s", email_a, email_b, exc.message)


def ensure_shares(admin: User, accounts: dict[str, User], team) -> None:
    """A few grants, so the own-only user sees more than his own contacts."""
    header, rows = sample_rows()
    email, owner = header.index("Email"), header.index("Owner")
    restricted = next(accounts[s.email] for s in DEMO_USERS if s.own_only)
    other = next(s.email for s in DEMO_USERS if not (s.is_admin or s.own_only))

    def first_rows_of(owner_email, count):
        found = [r[email] for r in rows if _owner_of(r[owner]).email == owner_email]
        return found[:count]

    wanted = [(e, restricted, "view") for e in first_rows_of(other, USER_GRANTS)]
    wanted += [(e, team, "edit") for e in first_rows_of(ADMIN_EMAIL, TEAM_GRANTS)]
    contacts = _contacts_by_email(e for e, _p, _l in wanted)
    for address, principal, level in wanted:
        contact = contacts.get(normalize_email(address))
        if contact is None:
            continue
        column = "team_id" if principal is team else "user_id"
        if any(getattr(g, column) == principal.id for g in access.shares_of(contact)):
            continue
        access.share(contact, principal, level, admin)


# The whole set -------------------------------------------------------------


def load() -> LoadResult:
    """Create or complete the demo data set; the caller commits.

    Raises ServiceError when demo mode is off.
    """
    if not current_app.config.get("DEMO"):
        raise ServiceError(
            _(
                "The demo data loads only in demo mode: set CRM_DEMO=1 and run "
                "it again (bin/demo does this for you)."
            )
        )

    passwords = demo_passwords()
    accounts = ensure_accounts(passwords)
    admin = accounts[ADMIN_EMAIL]
    result = LoadResult(
        admin=admin, password=passwords[ADMIN_EMAIL], credentials=credentials_path()
    )

    ensure_tags()
    link_types = ensure_link_types()
    ensure_custom_tab()
    import_sample(admin, accounts, result)
    team = ensure_team(admin, [u for e, u in accounts.items() if e != ADMIN_EMAIL])
    ensure_links(admin, link_types)
    ensure_shares(admin, accounts, team)
    demo_campaign.opt_in_sample_contacts()
    demo_campaign.ensure_campaign()
    demo_campaign.ensure_sales_call_sequence()
    demo_web.ensure_pipeline()
    demo_web.ensure_form(notify=admin)
    demo_web.ensure_order_page()

    result.contacts = db.session.scalar(select(func.count(Contact.id)))
    log.info(
        "demo data loaded: %d contacts imported, %d already there",
        result.imported,
        result.skipped,
    )
    return result
