"""The Follow-up sequences and Campaigns tabs, the admin screens and the report."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from crm.automation import campaigns, engine, services
from crm.automation.models import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    DONE,
    PAUSED,
    SCHEDULED,
    Campaign,
    Sequence,
    StepRun,
)
from crm.core.db import utcnow
from tests.access_helpers import own_only
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


def post(web, contact, path):
    return web.post(f"/admin/automation-of/{contact.id}/{path}")


@pytest.fixture
def nurture(db):
    first, second = tag(db, "N1"), tag(db, "N2")
    return make_sequence(
        db,
        "Nurture",
        steps=[
            ("none", None, "apply_tag", {"tag_id": first.id}),
            ("delay", delay(2), "apply_tag", {"tag_id": second.id}),
        ],
    )


def test_sequences_tab_starts_pauses_resumes_runs_next_and_removes(
    db, web, login_as, make_contact, nurture
):
    user = login_as("user")
    jane = make_contact(owner=user, time_zone="Europe/Amsterdam")
    page = web.get(record_url(jane, "sequences")).get_data(as_text=True)
    assert "This contact is in no follow-up sequence." in page
    assert 'id="start-sequence"' in page

    response = web.post(
        f"/admin/automation-of/{jane.id}/start", {"sequence_id": nurture.id}
    )
    assert response.status_code == 302
    assert flashes(web) == ["Sequence Nurture started."]
    enrollment = services.enrollment_for(jane.id, nurture.id)
    assert enrollment.status == ACTIVE
    engine.drain("w1")

    page = web.get(record_url(jane, "sequences")).get_data(as_text=True)
    assert "Nurture" in page and "Europe/Amsterdam" in page
    assert page.count('class="run-done"') == 1
    assert page.count('class="run-scheduled"') == 1

    base = f"enrollment/{enrollment.id}"
    post(web, jane, f"{base}/pause")
    assert flashes(web) == ["Sequence paused."]
    db.session.refresh(enrollment)
    assert enrollment.status == PAUSED

    post(web, jane, f"{base}/pause")
    assert flashes(web) == ["Only an active sequence can be paused."]

    post(web, jane, f"{base}/resume")
    assert flashes(web) == ["Sequence resumed."]
    post(web, jane, f"{base}/run-next")
    assert flashes(web) == ["The next step will run now."]
    assert engine.drain("w1") == {DONE: 1}
    db.session.refresh(enrollment)
    assert enrollment.status == COMPLETED

    web.post(f"/admin/automation-of/{jane.id}/start", {"sequence_id": nurture.id})
    flashes(web)
    post(web, jane, f"{base}/remove")
    assert flashes(web) == ["Contact removed from the sequence."]
    page = web.get(record_url(jane, "sequences")).get_data(as_text=True)
    assert "Removed by hand" in page


def test_starting_an_active_sequence_again_says_so(
    db, web, login_as, make_contact, nurture
):
    user = login_as("user")
    jane = make_contact(owner=user)
    for _ in range(2):
        web.post(f"/admin/automation-of/{jane.id}/start", {"sequence_id": nurture.id})
    assert flashes(web)[-1] == "The contact is already in Nurture."
    web.post(f"/admin/automation-of/{jane.id}/start", {"sequence_id": "x"})
    assert flashes(web) == ["Choose a sequence to start."]


@pytest.fixture
def live_campaign(db):
    campaign = make_campaign(db, "Webinar follow-up", time_zone="Europe/Paris")
    done = tag(db, "Followed up")
    sequence = make_sequence(
        db,
        "After webinar",
        campaign=campaign,
        position=2,
        steps=[
            ("none", None, "apply_tag", {"tag_id": done.id}),
            ("delay", delay(1, start="09:00"), "apply_tag", {"tag_id": done.id}),
        ],
    )
    add_goal(db, campaign, "manual", 1, sequence, call_name="attended")
    campaigns.publish(campaign)
    db.session.commit()
    return campaign


def test_campaigns_tab_history_upcoming_run_now_cancel_resend(
    db, web, login_as, make_contact, live_campaign
):
    user = login_as("user")
    jane = make_contact(owner=user)
    page = web.get(record_url(jane, "campaigns")).get_data(as_text=True)
    assert "No campaign item is waiting for this contact." in page
    goal = live_campaign.goals[0]

    web.post(f"/admin/automation-of/{jane.id}/achieve", {"goal_id": goal.id})
    assert flashes(web) == [f"Goal {goal.name} achieved."]
    engine.drain("w1")

    page = web.get(record_url(jane, "campaigns")).get_data(as_text=True)
    upcoming = page.split('id="upcoming-items"')[1].split("</table>")[0]
    history = page.split('id="recent-history"')[1].split("</table>")[0]
    assert "Europe/Paris" in upcoming and " 09:00 " in upcoming
    assert "Done" in history

    pending = db.session.scalar(select(StepRun).where(StepRun.status == SCHEDULED))
    post(web, jane, f"run/{pending.id}/run-now")
    assert flashes(web) == ["The step will run now."]
    db.session.refresh(pending)
    assert pending.due_at <= utcnow()

    post(web, jane, f"run/{pending.id}/cancel")
    assert flashes(web) == ["The step was cancelled."]
    db.session.refresh(pending)
    assert pending.status == CANCELLED

    finished = db.session.scalar(select(StepRun).where(StepRun.status == DONE))
    post(web, jane, f"run/{finished.id}/resend")
    assert flashes(web) == ["The step will run again now."]
    assert engine.drain("w1") == {DONE: 1}

    post(web, jane, f"run/{finished.id}/cancel")
    assert flashes(web) == ["Only a step that is waiting can be cancelled."]


def test_resend_runs_a_finished_step_again_with_a_new_key_while_in_the_sequence(
    db, web, login_as, make_contact, live_campaign
):
    user = login_as("user")
    jane = make_contact(owner=user)
    campaigns.api_achieve(jane, "attended")
    db.session.commit()
    engine.drain("w1")
    finished = db.session.scalar(select(StepRun).where(StepRun.status == DONE))
    first_key = finished.idempotency_key
    enrollment = finished.enrollment

    page = web.get(record_url(jane, "campaigns")).get_data(as_text=True)
    assert f"run/{finished.id}/resend" in page
    # The membership line reads "Campaign: Sequence  Active", no stray colon.
    memberships = page.split('id="campaign-memberships"')[1].split("</ul>")[0]
    assert re.search(r"After webinar\s*<span[^>]*enrollment-status", memberships)

    services.pause(enrollment)
    db.session.commit()
    page = web.get(record_url(jane, "campaigns")).get_data(as_text=True)
    assert f"run/{finished.id}/resend" not in page
    post(web, jane, f"run/{finished.id}/resend")
    assert flashes(web) == [
        "The sequence is paused for this contact: resume it to resend the step."
    ]
    db.session.refresh(finished)
    assert finished.status == DONE

    services.resume(enrollment)
    db.session.commit()
    post(web, jane, f"run/{finished.id}/resend")
    assert flashes(web) == ["The step will run again now."]
    db.session.refresh(finished)
    assert finished.idempotency_key == f"{first_key}/r1"
    assert engine.drain("w1") == {DONE: 1}
    post(web, jane, f"run/{finished.id}/resend")
    assert flashes(web) == ["The step will run again now."]
    db.session.refresh(finished)
    assert finished.idempotency_key == f"{first_key}/r2"
    assert engine.drain("w1") == {DONE: 1}

    services.remove(enrollment, reason="Unsubscribed")
    db.session.commit()
    post(web, jane, f"run/{finished.id}/resend")
    assert flashes(web) == [
        "The contact was removed from this sequence (Unsubscribed), so the step "
        "cannot run again."
    ]
    db.session.refresh(finished)
    assert finished.status == DONE


def test_campaign_history_keeps_25_items_from_the_last_30_days(
    db, web, login_as, make_contact, live_campaign
):
    user = login_as("user")
    jane = make_contact(owner=user)
    campaigns.api_achieve(jane, "attended")
    db.session.commit()
    engine.drain("w1")
    (done,) = db.session.scalars(select(StepRun).where(StepRun.status == DONE)).all()
    # 30 more finished items: 27 recent, 3 older than 30 days.
    template = {
        c: getattr(done, c)
        for c in ("enrollment_id", "contact_id", "step_id", "zone", "status")
    }
    now = utcnow()
    for i in range(30):
        when = now - timedelta(days=40 if i < 3 else 1, minutes=i)
        db.session.add(
            StepRun(
                **template,
                occurrence=100 + i,
                due_at=when,
                finished_at=when,
                idempotency_key=f"extra:{i}",
                reason=f"item-{i:02d}",
            )
        )
    db.session.commit()

    page = web.get(record_url(jane, "campaigns")).get_data(as_text=True)
    history = page.split('id="recent-history"')[1].split("</table>")[0]
    shown = re.findall(r"item-(\d\d)", history)
    assert len(re.findall(r"<tr data-run-id", history)) == 25
    assert all(int(i) >= 3 for i in shown)


def test_a_contact_the_user_may_not_see_has_no_automation_controls(
    db, web, make_user, make_contact, nurture
):
    owner = make_user("owner@example.com")
    other = own_only(db, make_user("other@example.com"))
    web.login(other.email)
    jane = make_contact(owner=owner)
    response = web.post(
        f"/admin/automation-of/{jane.id}/start", {"sequence_id": nurture.id}
    )
    assert response.status_code == 404
    assert services.enrollment_for(jane.id, nurture.id) is None


def test_sequence_admin_creates_steps_and_refuses_bad_settings(db, web, login_as):
    login_as("admin")
    label = tag(db, "Admin tag")
    response = web.post(
        "/admin/sequence/new/",
        {
            "name": "Built by hand",
            "position": "0",
            "steps-0-position": "1",
            "steps-0-name": "First",
            "steps-0-timer_kind": "delay",
            "steps-0-timer": '{"amount": 2, "unit": "hours"}',
            "steps-0-action_kind": "apply_tag",
            "steps-0-action": f'{{"tag_id": {label.id}}}',
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    sequence = db.session.scalar(
        select(Sequence).where(Sequence.name == "Built by hand")
    )
    assert [(s.timer_kind, s.timer, s.action) for s in sequence.steps] == [
        ("delay", {"amount": 2, "unit": "hours"}, {"tag_id": label.id})
    ]

    response = web.post(
        "/admin/sequence/new/",
        {
            "name": "Broken",
            "position": "0",
            "steps-0-position": "1",
            "steps-0-timer_kind": "date",
            "steps-0-timer": "{}",
            "steps-0-action_kind": "apply_tag",
            "steps-0-action": "{}",
        },
    )
    assert "A date timer needs a day." in response.get_data(as_text=True)
    assert db.session.scalar(select(Sequence).where(Sequence.name == "Broken")) is None


def test_campaign_admin_publishes_and_reports(
    db, web, login_as, make_contact, live_campaign
):
    login_as("admin")
    jane = make_contact()
    campaigns.api_achieve(jane, "attended")
    db.session.commit()
    engine.drain("w1")

    page = web.get("/admin/campaign/").get_data(as_text=True)
    assert "Webinar follow-up" in page and "Published" in page
    report = web.get(f"/admin/campaign-report/{live_campaign.id}").get_data(
        as_text=True
    )
    assert "Campaign report: Webinar follow-up" in report
    assert re.search(r'class="achieved">1<', report)
    assert re.search(r'class="done">1<', report)
    assert re.search(r'class="waiting">1<', report)
    assert web.get("/admin/campaign-report/999").status_code == 404

    draft = Campaign(name="Draft one", time_zone="UTC")
    db.session.add(draft)
    db.session.commit()
    web.post(
        "/admin/campaign/action/",
        {"action": "publish", "rowid": str(draft.id)},
    )
    assert flashes(web) == [
        "Draft one: A campaign needs at least one goal to be published."
    ]

    response = web.post(
        "/admin/campaign/new/", {"name": "Zoned", "time_zone": "Mars/Base"}
    )
    assert "Mars/Base is not a known time zone." in response.get_data(as_text=True)


def test_queue_lists_only_runs_of_visible_contacts(
    db, web, make_user, make_contact, nurture
):
    owner = make_user("owner@example.com")
    me = own_only(db, make_user("me@example.com"))
    web.login(me.email)
    mine = make_contact("Mine", owner=me)
    theirs = make_contact("Zyxtheirs", owner=owner)
    for contact in (mine, theirs):
        services.start(contact, nurture)
    db.session.commit()
    page = web.get("/admin/step_run/").get_data(as_text=True)
    assert "Mine" in page and "Zyxtheirs" not in page
