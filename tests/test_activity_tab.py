"""The record's "Recent & scored activity" tab: the feed filtered and paged,
the scored entries with points and expiry, and who may see it."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm.activity import kinds
from crm.activity import services as activity
from crm.activity.models import ActivityEvent
from crm.scoring.models import ScoreEntry, ScoreRule
from crm.tags import services as tag_services
from crm.tags.models import Tag
from tests.access_helpers import own_only, quick_user

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HISTORY = 10_000
EVENT_ROW = re.compile(
    r'class="activity-event" data-event-id="(\d+)" data-kind="(\w+)"'
)


@pytest.fixture
def probe_kinds():
    """Two kinds in two groups, as the mail and tasks domains would add them."""
    added = []
    for key, group in (("test_mail", "email"), ("test_note", "note")):
        kinds.register(key, _l("Probe %(key)s", key=key), group)
        added.append(key)
    yield
    for key in added:
        kinds._kinds.pop(key)


@pytest.fixture
def user(web, db):
    user = quick_user(db, "uma@example.com")
    web.login(user.email)
    return user


@pytest.fixture
def jane(make_contact, user):
    return make_contact("Jane", "Doe", owner=user)


def tab(web, contact_id, **args):
    query = "".join(f"&{k}={v}" for k, v in args.items())
    response = web.get(f"/admin/contact/details/?id={contact_id}&tab=activity{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def rows(page):
    return [(int(i), kind) for i, kind in EVENT_ROW.findall(page)]


@pytest.fixture
def long_history(db, jane, probe_kinds):
    """10,000 events, every third a note, one minute apart (newest last)."""
    activity.record_rows(
        [
            {
                "contact_id": jane.id,
                "kind": "test_note" if i % 3 == 0 else "test_mail",
                "subject": f"event {i}",
                "occurred_at": T0 + timedelta(minutes=i),
            }
            for i in range(HISTORY)
        ]
    )
    db.session.commit()
    query = select(ActivityEvent.id, ActivityEvent.kind).order_by(
        ActivityEvent.occurred_at
    )
    return db.session.execute(query).all()


def test_the_feed_pages_25_newest_first(web, jane, long_history):
    ids = [f.id for f in long_history]

    first = rows(tab(web, jane.id))
    third = tab(web, jane.id, page=3)
    last = tab(web, jane.id, page=HISTORY // 25)
    beyond = tab(web, jane.id, page=HISTORY // 25 + 1)

    assert [i for i, _ in first] == ids[::-1][:25]
    assert [i for i, _ in rows(third)] == ids[::-1][50:75]
    assert 'id="activity-older"' in third and 'id="activity-newer"' in third
    assert [i for i, _ in rows(last)] == ids[:25][::-1]
    assert 'id="activity-older"' not in last
    assert rows(beyond) == []
    assert "event 9999" in tab(web, jane.id)


def test_the_feed_filters_by_group(web, jane, long_history):
    notes = [f.id for f in long_history if f.kind == "test_note"]

    page = tab(web, jane.id, kind="note", page=2)

    assert rows(page) == [(i, "test_note") for i in notes[::-1][25:50]]
    assert '<option value="note" selected>Notes</option>' in page
    assert "kind=note&amp;page=3" in page


def test_an_unknown_group_or_page_falls_back_to_everything(web, jane, long_history):
    newest = long_history[-1].id
    for args in ({"kind": "nope"}, {"page": "x"}, {"page": "-4"}):
        assert rows(tab(web, jane.id, **args))[0][0] == newest


def test_subjects_render_as_text(db, web, jane, probe_kinds):
    activity.record(jane.id, "test_mail", subject="<script>alert(1)</script>")
    db.session.commit()

    page = tab(web, jane.id)

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_scored_entries_show_points_expiry_and_total(db, web, jane, user):
    vip = Tag(name="VIP")
    db.session.add(vip)
    db.session.commit()
    db.session.add_all(
        [
            ScoreRule(
                name="Became VIP",
                trigger="tag_applied",
                target=f"tag:{vip.id}",
                points=2,
                expires_weeks=3,
            ),
            ScoreRule(
                name="Left VIP",
                trigger="tag_removed",
                target=f"tag:{vip.id}",
                points=-1,
            ),
        ]
    )
    db.session.commit()

    tag_services.apply_tag(jane, vip, user)
    tag_services.remove_tag(jane, vip, user)
    db.session.commit()
    page = tab(web, jane.id)

    assert '<strong id="score-total">1</strong>' in page
    entries = re.findall(
        r'<tr class="score-entry[^"]*" data-rule-id="\d+">\s*<td>([^<]+)</td>'
        r'\s*<td>([^<]*)</td>\s*<td class="text-right points">([^<]+)</td>'
        r".*?<td class=\"expires\">([^<]+)</td>",
        page,
        re.S,
    )
    earned = db.session.scalar(
        select(ScoreEntry.earned_at).where(ScoreEntry.points == 2)
    )
    assert entries == [
        ("Left VIP", "VIP", "-1", "Never"),
        ("Became VIP", "VIP", "+2", (earned + timedelta(weeks=3)).strftime("%Y-%m-%d")),
    ]
    assert 'title="Lead score 1: 1 of 5 flames"' in page


def test_the_tab_of_a_hidden_contact_is_not_found(db, web, make_contact):
    u1 = own_only(db, quick_user(db, "u1@example.com"))
    u2 = quick_user(db, "u2@example.com")
    hidden = make_contact("Zyx", "Hidden", owner=u2)
    web.login(u1.email)

    response = web.get(f"/admin/contact/details/?id={hidden.id}&tab=activity")

    assert response.status_code == 404


def test_expired_entries_are_marked_and_the_entries_page(db, web, jane):
    rule = ScoreRule(name="Old news", trigger="tag_applied", points=1, expires_weeks=1)
    db.session.add(rule)
    db.session.commit()
    # 30 entries earned long ago: expired, listed 25 a page, adding nothing.
    db.session.add_all(
        ScoreEntry(
            contact_id=jane.id,
            rule_id=rule.id,
            points=1,
            earned_at=T0 + timedelta(hours=i),
            expires_at=T0 + timedelta(hours=i, weeks=1),
        )
        for i in range(30)
    )
    db.session.commit()

    first = tab(web, jane.id)
    second = tab(web, jane.id, scored=2)

    assert '<strong id="score-total">0</strong>' in first
    assert first.count('class="score-entry crm-muted"') == 25
    assert "Expired 2026-01-09" in first  # the newest was earned on 2 January
    assert 'id="scored-older"' in first
    assert second.count('class="score-entry crm-muted"') == 5
    assert "Expired 2026-01-08" in second


def test_every_group_a_domain_uses_has_a_label(app):
    from crm.activity.record import GROUP_LABELS

    used = {kind.group for kind in kinds.all_kinds()}
    assert used <= set(GROUP_LABELS), sorted(used - set(GROUP_LABELS))
