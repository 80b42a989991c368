import csv
import re
import stat

import pytest
from sqlalchemy import func, select

from crm.access.models import ContactShare, Team, TeamMember
from crm.auth.models import User
from crm.contacts.models import Contact, ContactAddress, ContactEmail, ContactPhone
from crm.customfields.models import CustomField, CustomTab, CustomValue
from crm.demo import loader
from crm.links.models import ContactLink, LinkType
from crm.tags.models import ContactTag, Tag, TagCategory

COUNTED = (
    User,
    Contact,
    ContactEmail,
    ContactPhone,
    ContactAddress,
    Tag,
    TagCategory,
    ContactTag,
    LinkType,
    ContactLink,
    CustomTab,
    CustomField,
    CustomValue,
    Team,
    TeamMember,
    ContactShare,
)


@pytest.fixture
def demo_mode(app, tmp_path, monkeypatch):
    """Demo mode on, with the instance folder (credentials file) under tmp_path."""
    app.config["DEMO"] = True
    monkeypatch.setattr(app, "instance_path", str(tmp_path / "instance"))
    return tmp_path / "instance"


def load(runner):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    return result


def printed_password(result):
    match = re.search(r"^  password: (\S+)$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    return match.group(1)


def counts(db):
    db.session.expire_all()
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in COUNTED
    }


def sample():
    with loader.SAMPLE_FILE.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def contact_by_email(db, address):
    db.session.expire_all()
    return db.session.scalar(
        select(Contact)
        .join(ContactEmail, ContactEmail.contact_id == Contact.id)
        .where(ContactEmail.normalized == address)
    )


def test_demo_load_refuses_outside_demo_mode(app, db, runner, tmp_path, monkeypatch):
    monkeypatch.setattr(app, "instance_path", str(tmp_path / "instance"))
    assert app.config["DEMO"] is False

    result = runner.invoke(args=["demo", "load"])

    assert result.exit_code == 1
    assert "only in demo mode: set CRM_DEMO=1" in result.stderr
    assert "Traceback" not in result.output
    assert counts(db)["User"] == 0
    assert counts(db)["Contact"] == 0
    assert not (tmp_path / "instance" / "demo-credentials.txt").exists()


def test_demo_load_creates_the_admin_and_prints_how_to_sign_in(
    db, runner, web, demo_mode
):
    result = load(runner)
    password = printed_password(result)

    assert "Sign in at http://127.0.0.1:5000/login" in result.stdout
    assert "  e-mail:   demo@example.com" in result.stdout
    admin = db.session.scalar(select(User).where(User.email == "demo@example.com"))
    assert admin.is_admin and admin.active
    stored = (demo_mode / "demo-credentials.txt").read_text(encoding="utf-8")
    assert f"demo@example.com {password}" in stored
    assert len(password) >= 16
    mode = (demo_mode / "demo-credentials.txt").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600

    assert web.login("demo@example.com", password).status_code == 302
    page = web.get("/admin/contact/").get_data(as_text=True)
    assert f"{len(sample())} contacts" in page


def test_demo_load_imports_every_sample_contact_with_its_details(db, runner, demo_mode):
    result = load(runner)
    rows = sample()

    assert 55 <= len(rows) <= 70
    assert f"Demo data ready: {len(rows)} contacts ({len(rows)} imported now" in (
        result.stdout
    )
    assert "left out" not in result.stderr
    assert counts(db)["Contact"] == len(rows)

    lucia = contact_by_email(db, "lucia.fernandez@example.org")
    assert (lucia.given_name, lucia.family_name) == ("Lucía", "Fernández")
    assert lucia.company.name == "Calzados Ibáñez S.L."
    assert lucia.billing_address.locality == "Madrid"
    assert lucia.billing_address.country_code == "ESP"
    assert lucia.phones[0].e164 == "+34918813998"
    assert lucia.birthday.isoformat() == "1977-06-26"
    assert lucia.owner.email == "demo@example.com"
    tags = {link.tag.name: link.tag.category.name for link in lucia.tag_links}
    assert tags == {
        "Churn risk": "Status",
        "Trade fair Madrid": "Marketing",
        "Region: EMEA": "Region",
    }
    custom = {value.field.label: value.value for value in lucia.custom_values}
    assert custom == {
        "Favourite Product": "Enterprise plan",
        "Customer Since": "2021-12-01",
    }

    # Owners follow the file's Owner column.
    javier = contact_by_email(db, "javier.munoz@example.org")
    assert javier.owner.email == "sofia.marquez@example.com"
    # Spouses and colleagues are linked.
    spouse = [link for link in javier.links_out + javier.links_in]
    assert {(link.link_type.name, link.other(javier.id).id) for link in spouse} >= {
        ("Spouse", lucia.id),
    }
    # They also work together, and are still linked once.
    assert [link.other(javier.id).id for link in spouse].count(lucia.id) == 1
    # Other people at one company are colleagues; no pair is linked twice.
    pairs = [
        (frozenset((link.contact1_id, link.contact2_id)), link.link_type.name)
        for link in db.session.scalars(select(ContactLink))
    ]
    assert "Colleague" in {name for _pair, name in pairs}
    assert len({pair for pair, _name in pairs}) == len(pairs)


def test_demo_own_only_user_sees_own_and_shared_contacts(db, runner, web, demo_mode):
    load(runner)
    passwords = loader.read_credentials(demo_mode / "demo-credentials.txt")
    kenji = db.session.scalar(select(User).where(User.email == "kenji.ito@example.com"))
    owned = db.session.scalar(
        select(func.count(Contact.id)).where(Contact.owner_id == kenji.id)
    )
    shares = db.session.scalars(select(ContactShare)).all()
    assert {share.level for share in shares} == {"view", "edit"}

    assert web.login(kenji.email, passwords[kenji.email]).status_code == 302
    page = web.get("/admin/contact/").get_data(as_text=True)
    shown = re.search(r"id=\"contact-count\">([^<]*)", page).group(1)
    assert shown == f"{owned + len(shares)} contacts"


def test_demo_load_twice_adds_nothing_twice(db, runner, demo_mode):
    first = load(runner)
    before = counts(db)

    second = load(runner)

    assert counts(db) == before
    assert printed_password(second) == printed_password(first)
    assert f"Demo data ready: {before['Contact']} contacts (0 imported now" in (
        second.stdout
    )


def test_demo_load_brings_back_the_stored_password(db, runner, web, demo_mode):
    from crm.auth import services

    password = printed_password(load(runner))
    admin = services.find_by_email("demo@example.com")
    services.set_password(admin, "another long passphrase 2026")
    db.session.commit()

    assert printed_password(load(runner)) == password
    assert web.login("demo@example.com", password).status_code == 302


def test_demo_load_makes_a_new_password_when_the_file_is_gone(
    db, runner, web, demo_mode
):
    old = printed_password(load(runner))
    (demo_mode / "demo-credentials.txt").unlink()

    new = printed_password(load(runner))

    assert new != old
    assert web.login("demo@example.com", old).status_code != 302
    assert web.login("demo@example.com", new).status_code == 302
