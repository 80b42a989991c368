"""The activity feed every domain writes to: recording and reading events."""

import pytest
from flask_babel import lazy_gettext as _l

from crm.activity import kinds, services
from crm.activity.models import ActivityEvent
from crm.extensions import db


@pytest.fixture
def probe_kind():
    kind = kinds.register("test_probe", _l("Probe"), "test")
    yield kind
    kinds._kinds.pop(kind.key)


def test_recorded_events_read_newest_first(app, make_contact, probe_kind):
    contact = make_contact(given="Ada")
    first = services.record(contact.id, "test_probe", subject="first")
    second = services.record(contact.id, "test_probe", subject="second")
    db.session.commit()

    rows = db.session.scalars(services.feed_query(contact.id)).all()

    assert [r.id for r in rows] == [second.id, first.id]


def test_unknown_kind_is_refused(app, make_contact):
    contact = make_contact(given="Ada")

    with pytest.raises(ValueError, match="unknown activity kind"):
        services.record(contact.id, "no_such_kind")

    assert db.session.query(ActivityEvent).count() == 0


def test_same_kind_cannot_be_registered_twice(probe_kind):
    with pytest.raises(ValueError, match="registered twice"):
        kinds.register("test_probe", _l("Probe"), "test")


def test_events_go_with_their_contact(app, make_contact, probe_kind):
    contact = make_contact(given="Ada")
    services.record(contact.id, "test_probe", subject="x")
    db.session.commit()

    db.session.delete(contact)
    db.session.commit()

    assert db.session.query(ActivityEvent).count() == 0
