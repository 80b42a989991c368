"""Partner records: the code rules, unique codes, parents without loops."""

import pytest
from sqlalchemy import func, select

from crm.core.errors import ServiceError
from crm.partners import services
from crm.partners.models import ReferralPartner


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ACME", "ACME"),
        ("jane2026", "jane2026"),
        ("  Bob_Partner  ", "Bob_Partner"),
        ("a.b-c", "a.b-c"),
        ("Z" + "9" * 39, "Z" + "9" * 39),
    ],
)
def test_valid_codes_are_kept_as_typed(app, raw, expected):
    assert services.check_code(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter a partner code"),
        (None, "Enter a partner code"),
        ("   ", "Enter a partner code"),
        ("abc", "at least 4 characters"),
        ("1abc", "must start with a letter"),
        ("_abcd", "must start with a letter"),
        ("-abcd", "must start with a letter"),
        ("ab cd", "cannot contain spaces"),
        ("abcd\tx", "cannot contain spaces"),
        ("abc/def", "only use letters, digits"),
        ("abc?d=1", "only use letters, digits"),
        ("ñandu", "must start with a letter"),
        ("abcñ", "only use letters, digits"),
        ("a" * 41, "at most 40 characters"),
    ],
)
def test_invalid_codes_say_what_is_wrong(app, raw, message):
    with pytest.raises(ServiceError, match=message) as caught:
        services.check_code(raw)
    assert caught.value.field == "code"


def test_codes_are_unique_ignoring_case(db, make_contact):
    services.create_partner(make_contact("Ann", "One"), "Acme")
    db.session.commit()
    with pytest.raises(ServiceError, match="already taken"):
        services.create_partner(make_contact("Bob", "Two"), "ACME")
    db.session.rollback()
    assert db.session.scalar(select(func.count(ReferralPartner.id))) == 1
    assert services.find_by_code("aCmE").contact.given_name == "Ann"


def test_the_database_refuses_a_duplicate_code_too(db, make_contact):
    from sqlalchemy.exc import IntegrityError

    services.create_partner(make_contact("Ann", "One"), "Acme")
    db.session.commit()
    db.session.add(
        ReferralPartner(
            contact_id=make_contact("Bob", "Two").id,
            code="ACME",
            code_key="acme",
            status="inactive",
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_a_contact_is_one_partner_at_most(db, make_contact):
    ann = make_contact("Ann", "One")
    services.create_partner(ann, "Acme")
    db.session.commit()
    with pytest.raises(ServiceError, match="already a partner"):
        services.create_partner(ann, "Other")


def test_new_partners_start_inactive(db, make_contact):
    partner = services.create_partner(make_contact(), "Acme")
    db.session.commit()
    assert partner.status == "inactive"
    assert partner.track_days is None


def test_a_partner_cannot_be_its_own_parent(db, make_contact):
    partner = services.create_partner(make_contact(), "Acme")
    db.session.commit()
    partner.parent = partner
    with pytest.raises(ServiceError, match="its own parent"):
        services.check_partner(partner)


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_parent_chains_cannot_loop(db, make_contact, depth):
    chain = []
    for i in range(depth):
        partner = services.create_partner(
            make_contact(f"P{i}", "Chain"),
            f"Chain{i}",
            parent=chain[-1] if chain else None,
        )
        chain.append(partner)
    db.session.commit()

    top, bottom = chain[0], chain[-1]
    top.parent = bottom
    with pytest.raises(ServiceError, match="would make a loop"):
        services.check_partner(top)
    db.session.rollback()
    db.session.refresh(top)
    assert top.parent_id is None


def test_a_parent_elsewhere_in_the_tree_is_fine(db, make_contact):
    a = services.create_partner(make_contact("A", "X"), "Aaaa")
    b = services.create_partner(make_contact("B", "X"), "Bbbb", parent=a)
    c = services.create_partner(make_contact("C", "X"), "Cccc")
    db.session.commit()
    c.parent = b
    services.check_partner(c)
    db.session.commit()
    assert [c.parent.code, c.parent.parent.code] == ["Bbbb", "Aaaa"]


def test_the_tracking_window_is_at_least_a_day(db, make_contact):
    with pytest.raises(ServiceError, match="1 or more") as caught:
        services.create_partner(make_contact(), "Acme", track_days=0)
    assert caught.value.field == "track_days"


# Through the screen.
def test_an_administrator_creates_a_partner_on_the_screen(
    db, web, login_as, make_contact
):
    login_as("admin")
    jane = make_contact()
    response = web.post(
        "/admin/referral-partners/new/",
        {
            "contact": str(jane.id),
            "code": " Jane2026 ",
            "status": "active",
            "track_days": "30",
        },
    )
    assert response.status_code == 302
    partner = db.session.scalar(select(ReferralPartner))
    assert (partner.code, partner.code_key, partner.status, partner.track_days) == (
        "Jane2026",
        "jane2026",
        "active",
        30,
    )
    listing = web.get("/admin/referral-partners/").get_data(as_text=True)
    assert "/r/Jane2026" in listing


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ab", "at least 4 characters"),
        ("9lives", "must start with a letter"),
        ("has space", "cannot contain spaces"),
    ],
)
def test_the_screen_shows_the_code_rule_and_saves_nothing(
    db, web, login_as, make_contact, code, message
):
    login_as("admin")
    jane = make_contact()
    page = web.post(
        "/admin/referral-partners/new/",
        {"contact": str(jane.id), "code": code, "status": "inactive"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert message in page
    assert "Traceback" not in page
    assert db.session.scalar(select(func.count(ReferralPartner.id))) == 0


def test_the_screen_refuses_a_loop_through_the_parent_picker(
    db, web, login_as, make_contact
):
    login_as("admin")
    a = services.create_partner(make_contact("A", "X"), "Aaaa")
    b = services.create_partner(make_contact("B", "X"), "Bbbb", parent=a)
    db.session.commit()
    page = web.post(
        f"/admin/referral-partners/edit/?id={a.id}",
        {
            "contact": str(a.contact_id),
            "code": "Aaaa",
            "status": "inactive",
            "parent": str(b.id),
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "would make a loop" in page
    db.session.expire_all()
    assert db.session.get(ReferralPartner, a.id).parent_id is None


def test_a_user_cannot_make_a_partner_of_a_contact_they_may_not_edit(
    db, web, make_contact
):
    from tests.access_helpers import own_only, quick_user

    owner = quick_user(db, "owner@example.com")
    user = own_only(db, quick_user(db, "viewer@example.com"))
    jane = make_contact(owner=owner)
    web.login(user.email)
    web.post(
        "/admin/referral-partners/new/",
        {"contact": str(jane.id), "code": "Sneaky", "status": "active"},
    )
    assert db.session.scalar(select(func.count(ReferralPartner.id))) == 0
