"""Helpers shared by the access tests: users with permissions, teams, grants."""

import functools

import pytest

from tests.conftest import PASSWORD


@functools.cache
def _password_hash():
    from crm.auth.passwords import hash_password

    return hash_password(PASSWORD)


def quick_user(db, email, *, is_admin=False, name=""):
    """A user with the test password, without hashing it again (argon2 is slow)."""
    from crm.access.services import apply_defaults
    from crm.auth.models import User

    user = User(
        email=email, name=name, is_admin=is_admin, password_hash=_password_hash()
    )
    db.session.add(user)
    db.session.flush()
    apply_defaults(user)
    db.session.commit()
    return user


@pytest.fixture
def fast_user(db):
    """Make a user quickly: ``fast_user(email, is_admin=False)``."""
    counter = iter(range(1, 10_000))

    def make(email=None, **kwargs):
        return quick_user(db, email or f"fast{next(counter)}@example.com", **kwargs)

    return make


def set_contacts(db, user, **values):
    """Store ``user``'s contact permissions and commit."""
    from crm.access import services

    services.set_user_permissions(user, {"contacts": values})
    db.session.commit()


def own_only(db, user, **extra):
    set_contacts(db, user, view_scope="own", edit_scope="own", **extra)
    return user


@pytest.fixture
def restricted(db, fast_user):
    """Make a user who sees only own, managed and shared contacts."""

    def make(email=None, **extra):
        return own_only(db, fast_user(email), **extra)

    return make


@pytest.fixture
def make_team(db):
    from crm.access import services

    def make(name, *, members=(), managers=()):
        team = services.create_team(name)
        for user in members:
            services.set_member(team, user)
        for user in managers:
            services.set_member(team, user, is_manager=True)
        db.session.commit()
        return team

    return make


@pytest.fixture
def grant(db):
    from crm.access.models import ContactShare

    def make(contact, *, user=None, team=None, level="view"):
        share = ContactShare(
            contact_id=contact.id,
            user_id=user.id if user else None,
            team_id=team.id if team else None,
            level=level,
        )
        db.session.add(share)
        db.session.commit()
        return share

    return make
