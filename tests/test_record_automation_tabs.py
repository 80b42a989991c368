"""The Follow-up sequences and Campaigns tabs: empty states, pickers, history."""

import re

import pytest
from sqlalchemy import select

from crm.automation import campaigns, engine
from crm.automation.models import CANCELLED, SCHEDULED, StepRun
from tests.automation_helpers import (
    add_goal,
    delay,
    make_campaign,
    make_sequence,
    tag,
)
from tests.record_helpers import flashes


def record_url(contact, tab):
    return f"/admin/contact/details/?id={contact.id}&tab={tab}"


def options(page, select_id):
    found = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', page, re.S)
    assert found, f"no select {select_id}"
    return re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', found[1])


@pytest.fixture
def live_campaign(db):
    campaign = make_campaign(db, "Webinar follow-up")
    done = tag(db, "Followed up")
    sequence = make_sequence(
        db,
        "After webinar",
        campaign=campaign,
        position=2,
        steps=[
            ("none", None, "apply_tag", {"tag_id": done.id}),
            ("delay", delay(1), "apply_tag", {"tag_id": done.id}),
        ],
    )
    add_goal(db, campaign, "manual", 1, sequence, call_name="attended")
    campaigns.publish(campaign)
    db.session.commit()
    return campaign


@pytest.mark.parametrize("role, link", [("admin", True), ("user", False)])
def test_sequences_tab_without_sequences_says_who_builds_them(
    db, web, login_as, make_contact, role, link
):
    user = login_as(role)
    jane = make_contact(owner=user)

    page = web.get(record_url(jane, "sequences")).get_data(as_text=True)

    assert (
        "No follow-up sequence exists yet. An administrator builds them under "
        "Campaigns → Sequences." in page
    )
    assert ('href="/admin/sequence/new/' in page) is link
    assert 'id="start-sequence"' not in page


def test_start_sequence_picker_starts_empty_and_refuses_an_empty_start(
    db, web, login_as, make_contact
):
    user = login_as("user")
    jane = make_contact(owner=user)
    make_sequence(db, "Nurture", steps=[("none", None, "apply_tag", {"tag_id": 1})])

    page = web.get(record_url(jane, "sequences")).get_data(as_text=True)
    choices = options(page, "start-sequence-id")
    assert choices[0] == ("", " selected", "Choose a sequence")
    assert [label for _v, _s, label in choices[1:]] == ["Nurture"]

    web.post(f"/admin/automation-of/{jane.id}/start", {"sequence_id": ""})
    assert flashes(web) == ["Choose a sequence to start."]


def test_achieve_goal_picker_starts_empty_and_refuses_an_empty_goal(
    db, web, login_as, make_contact, live_campaign
):
    user = login_as("user")
    jane = make_contact(owner=user)

    page = web.get(record_url(jane, "campaigns")).get_data(as_text=True)
    choices = options(page, "achieve-goal-id")
    assert choices[0] == ("", " selected", "Choose a goal")
    assert len(choices) == 2

    web.post(f"/admin/automation-of/{jane.id}/achieve", {"goal_id": ""})
    assert flashes(web) == ["Choose a goal to achieve."]


def test_a_cancelled_campaign_item_stays_in_the_recent_history(
    db, web, login_as, make_contact, live_campaign
):
    user = login_as("user")
    jane = make_contact(owner=user)
    goal = live_campaign.goals[0]
    web.post(f"/admin/automation-of/{jane.id}/achieve", {"goal_id": goal.id})
    flashes(web)
    engine.drain("w1")
    pending = db.session.scalar(select(StepRun).where(StepRun.status == SCHEDULED))

    web.post(f"/admin/automation-of/{jane.id}/run/{pending.id}/cancel")
    assert flashes(web) == ["The step was cancelled."]
    db.session.refresh(pending)
    assert pending.status == CANCELLED

    page = web.get(record_url(jane, "campaigns")).get_data(as_text=True)
    history = page.split('id="recent-history"')[1].split("</table>")[0]
    rows = re.findall(r'<tr data-run-id="(\d+)">(.*?)</tr>', history, re.S)
    assert [int(run_id) for run_id, _row in rows].count(pending.id) == 1
    cancelled = dict(rows)[str(pending.id)]
    assert "Cancelled" in cancelled and "Cancelled by" in cancelled
    assert len(rows) == 2
