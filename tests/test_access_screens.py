"""Settings screens: users with permissions, teams, default permissions, audit log."""

import re

import pytest
from sqlalchemy import select

from crm.access import services
from crm.access.forms import field_name
from crm.access.models import AREAS, PERMISSION_COLUMNS, AuditEntry, Team
from crm.auth.models import User
from tests.access_helpers import *  # noqa: F403  (fixtures)
from tests.conftest import PASSWORD


@pytest.fixture
def admin(web, fast_user):
    user = fast_user("admin@example.com", is_admin=True)
    assert web.login(user.email).status_code == 302
    return user


def permission_form(view_scope="all", edit_scope="all", **flags):
    """Form data for the permission table: contacts as given, other areas open."""
    data = {}
    for area in AREAS:
        for key, _label, kind in PERMISSION_COLUMNS:
            name = field_name(area.key, key)
            if kind == "scope":
                data[name] = view_scope if key == "view_scope" else edit_scope
            elif flags.get(key, True):
                data[name] = "y"
    return data


def new_user(web, email, **perms):
    data = {"email": email, "name": "", "active": "y", "new_password": PASSWORD}
    data.update(permission_form(**perms))
    return web.post("/admin/user/new/", data)


def audit_actions(db):
    db.session.expire_all()
    return [
        e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    ]


def test_admin_creates_three_users_and_two_teams_through_the_screens(db, web, admin):
    assert (
        new_user(web, "u1@example.com", view_scope="own", edit_scope="own").status_code
        == 302
    )
    assert (
        new_user(web, "u2@example.com", view_scope="own", edit_scope="own").status_code
        == 302
    )
    assert new_user(web, "u3@example.com", edit_scope="own").status_code == 302
    users = {u.email: u for u in db.session.scalars(select(User))}
    response = web.post(
        "/admin/team/new/",
        {
            "name": "Sales",
            "members-0-user": str(users["u1@example.com"].id),
            "members-1-user": str(users["u2@example.com"].id),
            "members-1-is_manager": "y",
        },
    )
    assert response.status_code == 302
    assert web.post("/admin/team/new/", {"name": "Support"}).status_code == 302

    db.session.expire_all()
    u1, u3 = users["u1@example.com"], users["u3@example.com"]
    assert services.user_permissions(u1)["contacts"]["view_scope"] == "own"
    assert services.user_permissions(u3)["contacts"]["view_scope"] == "all"
    assert services.user_permissions(u3)["contacts"]["edit_scope"] == "own"
    sales = db.session.scalar(select(Team).where(Team.name == "Sales"))
    roles = {m.user.email: m.is_manager for m in sales.members}
    assert roles == {"u1@example.com": False, "u2@example.com": True}
    assert [t.name for t in db.session.scalars(select(Team).order_by(Team.name))] == [
        "Sales",
        "Support",
    ]
    page = web.get("/admin/user/").get_data(as_text=True)
    assert "Sales" in page
    assert "team.changed" in audit_actions(db)


def test_permission_table_shows_the_stored_permissions(db, web, admin, fast_user):
    user = fast_user("u1@example.com")
    services.set_user_permissions(
        user, {"contacts": {"view_scope": "own", "can_export": False}}
    )
    db.session.commit()
    page = web.get(f"/admin/user/edit/?id={user.id}").get_data(as_text=True)
    assert 'id="permission-table"' in page
    export_box = page[
        page.index(f'name="{field_name("contacts", "can_export")}"') - 120 :
    ]
    assert "checked" not in export_box.split(">")[0]
    view = page[page.index(f'name="{field_name("contacts", "view_scope")}"') :]
    assert '<option selected value="own">' in view.split("</select>")[0]


def test_editing_permissions_is_audited(db, web, admin, fast_user):
    user = fast_user("u1@example.com")
    data = {"email": user.email, "active": "y"}
    data.update(permission_form(view_scope="own", can_delete=False))
    assert web.post(f"/admin/user/edit/?id={user.id}", data).status_code == 302
    db.session.expire_all()
    perms = services.user_permissions(user)["contacts"]
    assert perms["view_scope"] == "own" and perms["can_delete"] is False
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "permissions.changed")
    )
    assert entry.actor_label == "admin@example.com"
    assert entry.target_ids == str(user.id)
    assert '"view_scope": ["all", "own"]' in entry.details


@pytest.mark.parametrize("change", [{"is_admin": None}, {"active": None}])
def test_last_active_administrator_cannot_be_demoted_or_deactivated(
    db, web, admin, change
):
    data = {"email": admin.email, "active": "y", "is_admin": "y"}
    data.update(permission_form())
    for key in change:
        data.pop(key)
    response = web.post(f"/admin/user/edit/?id={admin.id}", data, follow_redirects=True)
    assert "last active administrator" in response.get_data(as_text=True)
    db.session.expire_all()
    stored = db.session.get(User, admin.id)
    assert stored.is_admin and stored.active


def test_an_administrator_can_be_demoted_while_another_remains(
    db, web, admin, fast_user
):
    other = fast_user("boss@example.com", is_admin=True)
    data = {"email": other.email, "active": "y"}
    data.update(permission_form())
    assert web.post(f"/admin/user/edit/?id={other.id}", data).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, other.id).is_admin is False
    assert "user.changed" in audit_actions(db)


def test_a_user_cannot_raise_their_own_permissions(db, web, fast_user):
    from tests.access_helpers import own_only

    user = own_only(db, fast_user("u1@example.com"))
    web.login(user.email)
    data = {"email": user.email, "active": "y", "is_admin": "y"}
    data.update(permission_form())
    assert web.post(f"/admin/user/edit/?id={user.id}", data).status_code == 403
    assert web.get("/admin/user/").status_code == 403
    assert web.post("/admin/default-permissions/", permission_form()).status_code == 403
    db.session.expire_all()
    assert db.session.get(User, user.id).is_admin is False
    assert services.user_permissions(user)["contacts"]["view_scope"] == "own"
    with pytest.raises(Exception, match="Only an administrator"):
        services.set_user_permissions(
            user, {"contacts": {"view_scope": "all"}}, actor=user
        )


def test_duplicate_user_email_is_refused_with_a_message(db, web, admin):
    response = new_user(web, "ADMIN@example.com ")
    assert "already exists" in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "admin@example.com"))
    assert len(list(db.session.scalars(select(User)))) == 1


def test_new_user_needs_a_strong_password(db, web, admin):
    data = {"email": "u1@example.com", "active": "y", "new_password": "short"}
    data.update(permission_form())
    response = web.post("/admin/user/new/", data)
    assert "at least 12 characters" in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "u1@example.com")) is None


def test_password_reset_by_an_administrator_ends_the_users_sessions(
    app, db, web, admin, fast_user
):
    from tests.conftest import Web

    user = fast_user("u1@example.com")
    theirs = Web(app.test_client())
    theirs.login(user.email)
    assert theirs.get("/admin/contact/").status_code == 200

    data = {
        "email": user.email,
        "active": "y",
        "new_password": "a brand new passphrase",
    }
    data.update(permission_form())
    assert web.post(f"/admin/user/edit/?id={user.id}", data).status_code == 302
    assert theirs.get("/admin/contact/").status_code == 302
    assert theirs.login(user.email, "a brand new passphrase").status_code == 302


def test_default_permissions_apply_to_users_created_afterwards(
    db, web, admin, fast_user
):
    before = fast_user("old@example.com")
    form = permission_form(view_scope="own", edit_scope="own", can_export=False)
    response = web.post("/admin/default-permissions/", form, follow_redirects=True)
    assert "Default permissions saved." in response.get_data(as_text=True)
    db.session.expire_all()
    after = fast_user("new@example.com")
    assert services.user_permissions(after)["contacts"]["view_scope"] == "own"
    assert services.user_permissions(after)["contacts"]["can_export"] is False
    assert services.user_permissions(before)["contacts"]["view_scope"] == "all"
    page = web.get("/admin/user/new/").get_data(as_text=True)
    view = page[page.index(f'name="{field_name("contacts", "view_scope")}"') :]
    assert '<option selected value="own">' in view.split("</select>")[0]
    assert "defaults.changed" in audit_actions(db)


def test_team_form_refuses_a_member_listed_twice(db, web, admin, fast_user):
    user = fast_user("u1@example.com")
    response = web.post(
        "/admin/team/new/",
        {
            "name": "Sales",
            "members-0-user": str(user.id),
            "members-1-user": str(user.id),
        },
    )
    assert "listed twice" in response.get_data(as_text=True)
    assert db.session.scalar(select(Team)) is None


def test_audit_log_is_filterable_and_read_only(db, web, admin):
    from crm.access import audit

    audit.record(audit.GRANT_ADDED, actor=admin, target_type="contact", target_ids=[7])
    audit.record(
        audit.OWNER_REASSIGNED, actor=admin, target_type="contact", target_ids=[8]
    )
    db.session.commit()
    page = web.get(
        "/admin/audit-log/", query_string={"flt0_what_equals": "grant.added"}
    )
    text = page.get_data(as_text=True)
    assert "grant.added" in text and "owner.reassigned" not in text

    count = len(audit_actions(db))
    assert web.get("/admin/audit-log/new/").status_code == 302
    web.post("/admin/audit-log/new/", {"action": "forged"})
    entry_id = db.session.scalar(select(AuditEntry.id))
    web.post("/admin/audit-log/delete/", {"id": str(entry_id)})
    web.post(f"/admin/audit-log/edit/?id={entry_id}", {"action": "forged"})
    assert len(audit_actions(db)) == count
    assert "forged" not in audit_actions(db)


def test_audit_log_export_neutralises_formulas_and_is_itself_audited(db, web, admin):
    from crm.access import audit

    audit.record(
        audit.GRANT_ADDED, actor=admin, target_type="contact", details="=HYPERLINK(1)"
    )
    db.session.commit()
    response = web.get("/admin/audit-log/export/csv/", buffered=True)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "'=HYPERLINK(1)" in body
    assert "export" in audit_actions(db)


def test_ordinary_users_do_not_see_the_settings_screens(db, web, fast_user):
    user = fast_user("u1@example.com")
    web.login(user.email)
    for url in (
        "/admin/user/",
        "/admin/team/",
        "/admin/default-permissions/",
        "/admin/audit-log/",
    ):
        assert web.get(url).status_code == 403, url
    page = web.get("/admin/contact/").get_data(as_text=True)
    assert "Audit log" not in page and "Default permissions" not in page


@pytest.mark.parametrize("value", ["Spanish", "xx", "español", "es-MX", "ES"])
def test_a_language_outside_the_drop_down_is_refused(db, web, admin, value):
    data = {"email": "u1@example.com", "active": "y", "new_password": PASSWORD}
    data.update(permission_form(), locale=value)
    page = web.post("/admin/user/new/", data).get_data(as_text=True)
    assert "is not a language of the interface; choose one from the list." in page
    assert db.session.scalar(select(User).where(User.email == "u1@example.com")) is None


@pytest.mark.parametrize(("value", "stored"), [("es", "es"), ("en", "en"), ("", None)])
def test_a_language_of_the_drop_down_is_kept(db, web, admin, value, stored):
    data = {"email": "u1@example.com", "active": "y", "new_password": PASSWORD}
    data.update(permission_form(), locale=value)
    assert web.post("/admin/user/new/", data).status_code == 302
    user = db.session.scalar(select(User).where(User.email == "u1@example.com"))
    assert user.locale == stored


def _locale_options(page):
    select = re.search(r'<select[^>]*name="locale"[^>]*>(.*?)</select>', page, re.S)
    assert select, "no language drop-down"
    return re.findall(r'<option([^>]*)value="([^"]*)"[^>]*>([^<]*)</option>', select[1])


def test_the_users_screen_offers_the_languages_in_a_drop_down(web, admin):
    page = web.get("/admin/user/new/").get_data(as_text=True)
    options = [(value, label) for _attrs, value, label in _locale_options(page)]
    assert options == [
        ("", "Browser&#39;s language"),
        ("en", "English"),
        ("es", "Español"),
    ]
    assert not re.search(r'<input[^>]*name="locale"', page)


def test_a_regional_locale_typed_before_shows_as_its_language_and_stays(
    db, web, admin, fast_user
):
    user = fast_user("u1@example.com")
    user.locale = "es_MX"
    db.session.commit()
    page = web.get(f"/admin/user/edit/?id={user.id}").get_data(as_text=True)
    selected = [
        value for attrs, value, _ in _locale_options(page) if "selected" in attrs
    ]
    assert selected == ["es"]
