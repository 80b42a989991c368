"""Opportunities: stage rules, moves and their history, the screens over HTTP."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from crm.core.errors import ServiceError
from tests.access_helpers import quick_user


def make_pipeline(db):
    """New (checklist: Call required, Brochure optional) → Demo → Won / Lost."""
    from crm.opportunities.models import ChecklistItem, Stage, StageReason

    new = Stage(name="New", position=10, probability=10)
    new.checklist = [
        ChecklistItem(description="Call", required=True, position=1),
        ChecklistItem(description="Brochure", required=False, position=2),
    ]
    demo = Stage(name="Demo", position=20, probability=50)
    won = Stage(name="Won", position=90, probability=100, kind="won")
    won.reason_required = True
    won.reasons = [StageReason(text="Price"), StageReason(text="Service")]
    lost = Stage(name="Lost", position=95, probability=0, kind="lost")
    lost.reasons = [StageReason(text="Too expensive")]
    db.session.add_all([new, demo, won, lost])
    db.session.commit()
    return {"new": new, "demo": demo, "won": won, "lost": lost}


def make_opportunity(db, contact, owner, stage, **values):
    from crm.opportunities import services
    from crm.opportunities.models import Opportunity

    opportunity = Opportunity(
        title=values.pop("title", "Website redesign"),
        contact=contact,
        stage=stage,
        owner=owner,
        **values,
    )
    db.session.add(opportunity)
    services.check_opportunity(opportunity, None, is_new=True)
    db.session.flush()
    services.after_create(opportunity, owner)
    db.session.commit()
    return opportunity


@pytest.fixture
def pipeline(db):
    return make_pipeline(db)


@pytest.fixture
def seller(db):
    return quick_user(db, "seller@example.com", name="Sam Seller")


# Stage rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": "  "}, "needs a name"),
        ({"probability": -1}, "0 to 100"),
        ({"probability": 101}, "0 to 100"),
        ({"target_days": -3}, "cannot be negative"),
        ({"kind": "maybe"}, "open, win or loss"),
        ({"name": "demo"}, "already exists"),
        ({"kind": "won"}, "already the win stage"),
        ({"kind": "lost"}, "already the loss stage"),
        ({"kind": "won", "name": "Won again"}, "already the win stage"),
    ],
)
def test_stage_rules_refuse_with_a_message(db, pipeline, values, message):
    from crm.opportunities import services
    from crm.opportunities.models import Stage

    stage = Stage(**{"name": "Extra", "probability": 20, **values})
    with pytest.raises(ServiceError, match=message):
        services.check_stage(stage)


@pytest.mark.parametrize("probability", [0, 1, 99, 100])
def test_probability_bounds_are_inclusive(db, pipeline, probability):
    from crm.opportunities import services
    from crm.opportunities.models import Stage

    stage = Stage(name="Edge", probability=probability)
    services.check_stage(stage)
    db.session.add(stage)
    db.session.flush()

    assert db.session.get(Stage, stage.id).probability == probability


def test_reasons_belong_to_win_and_loss_stages_only(db, pipeline):
    from crm.opportunities import services
    from crm.opportunities.models import Stage, StageReason

    stage = Stage(name="Open with reason", probability=5)
    stage.reasons = [StageReason(text="Because")]
    with pytest.raises(ServiceError, match="Only the win and the loss stage"):
        services.check_stage(stage)

    won = pipeline["won"]
    won.reasons.clear()
    with pytest.raises(ServiceError, match="needs at least one reason"):
        services.check_stage(won)
    db.session.rollback()


def test_the_database_holds_one_win_stage_whatever_the_path(db, pipeline):
    from crm.opportunities.models import Stage

    db.session.add(Stage(name="Second win", probability=100, kind="won"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(Stage(name="Another open", probability=30, kind="open"))
    db.session.commit()


def test_a_stage_holding_opportunities_is_not_deleted(
    db, pipeline, seller, make_contact
):
    from crm.opportunities import services

    make_opportunity(db, make_contact(owner=seller), seller, pipeline["demo"])
    with pytest.raises(ServiceError, match="still holds 1 opportunities"):
        services.check_stage_delete(pipeline["demo"])
    services.check_stage_delete(pipeline["lost"])


# Opportunity values --------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"title": " "}, "needs a title"),
        (
            {"revenue_low": Decimal("500"), "revenue_high": Decimal("100")},
            "cannot be above",
        ),
        ({"revenue_low": Decimal("-1")}, "cannot be negative"),
        ({"revenue_high": Decimal("1.005")}, "two decimal places"),
        ({"revenue_high": Decimal("1e12")}, "too large"),
        ({"currency": "XYZ"}, "not a currency code"),
    ],
)
def test_opportunity_values_are_checked(
    db, pipeline, seller, make_contact, values, message
):
    from crm.opportunities import services
    from crm.opportunities.models import Opportunity

    opportunity = Opportunity(
        **{
            "title": "Deal",
            "contact": make_contact(),
            "stage": pipeline["new"],
            **values,
        }
    )
    with pytest.raises(ServiceError, match=message):
        services.check_opportunity(opportunity, seller, is_new=True)


def test_new_opportunity_defaults_stage_owner_and_currency(
    db, pipeline, seller, make_contact
):
    from crm.opportunities import services
    from crm.opportunities.models import Opportunity

    opportunity = Opportunity(title="Deal", contact=make_contact())
    services.check_opportunity(opportunity, seller, is_new=True)
    assert opportunity.stage.name == "New"
    assert opportunity.owner == seller
    assert opportunity.currency == "USD"


# Moves -----------------------------------------------------------------------------

MOVES = [
    # (from, to, reason, ticked checklist, refusal or None)
    ("new", "demo", None, [], "Check the required items of New"),
    ("new", "demo", None, ["Brochure"], "Call"),
    ("new", "demo", None, ["Call"], None),
    ("new", "won", "Price", [], "Check the required items of New"),
    ("new", "won", "Price", ["Call"], None),
    ("demo", "won", None, [], "Choose a reason for moving to Won"),
    ("demo", "won", "Luck", [], "Luck is not one of the reasons of Won"),
    ("demo", "won", "price", [], None),
    ("demo", "lost", None, [], None),
    ("demo", "lost", "Too expensive", [], None),
    ("demo", "new", None, [], None),
    ("demo", "demo", None, [], "already in Demo"),
]


@pytest.mark.parametrize(("start", "target", "reason", "ticked", "refusal"), MOVES)
def test_move_rules(
    db, pipeline, seller, make_contact, start, target, reason, ticked, refusal
):
    from crm.opportunities import services
    from crm.opportunities.models import Opportunity

    opportunity = make_opportunity(
        db, make_contact(owner=seller), seller, pipeline[start]
    )
    items = {item.description: item.id for item in pipeline["new"].checklist}
    done = [items[name] for name in ticked]

    if refusal:
        with pytest.raises(ServiceError, match=refusal):
            services.move(opportunity, pipeline[target], seller, reason, done)
        db.session.rollback()
        db.session.expire_all()
        assert (
            db.session.get(Opportunity, opportunity.id).stage.name
            == pipeline[start].name
        )
        assert len(db.session.get(Opportunity, opportunity.id).moves) == 1
        return

    services.move(opportunity, pipeline[target], seller, reason, done)
    db.session.commit()
    db.session.expire_all()
    saved = db.session.get(Opportunity, opportunity.id)
    assert saved.stage.name == pipeline[target].name
    assert saved.is_closed == (target in ("won", "lost"))
    expected_reason = (
        {"price": "Price"}.get(reason, reason) if saved.is_closed else None
    )
    assert saved.close_reason == expected_reason


def test_every_move_is_recorded_with_its_event(db, pipeline, seller, make_contact):
    from crm.activity.models import ActivityEvent
    from crm.opportunities import services
    from crm.opportunities.models import Opportunity

    contact = make_contact(owner=seller)
    opportunity = make_opportunity(db, contact, seller, pipeline["new"])
    call = pipeline["new"].checklist[0]
    services.move(opportunity, pipeline["demo"], seller, checklist_done=[call.id])
    db.session.commit()
    services.move(opportunity, pipeline["won"], seller, reason="Service")
    db.session.commit()
    services.move(opportunity, pipeline["demo"], seller)
    db.session.commit()

    db.session.expire_all()
    saved = db.session.get(Opportunity, opportunity.id)
    moves = [
        (m.from_stage_id and m.from_stage.name, m.to_stage.name, m.reason)
        for m in saved.moves
    ]
    assert moves == [
        (None, "New", None),
        ("New", "Demo", None),
        ("Demo", "Won", "Service"),
        ("Won", "Demo", None),
    ]
    assert {m.moved_by_id for m in saved.moves} == {seller.id}
    assert all(m.moved_at.tzinfo is not None for m in saved.moves)
    assert saved.closed_at is None and saved.close_reason is None
    assert [c.item_id for c in saved.checks] == [call.id]

    events = db.session.scalars(
        select(ActivityEvent)
        .where(
            ActivityEvent.contact_id == contact.id,
            ActivityEvent.kind == "opportunity_stage",
        )
        .order_by(ActivityEvent.id)
    ).all()
    assert [e.data["to"] for e in events] == ["New", "Demo", "Won", "Demo"]
    assert events[2].data == {
        "title": "Website redesign",
        "from": "Demo",
        "to": "Won",
        "reason": "Service",
    }
    assert events[2].ref_type == "opportunity" and events[2].ref_id == opportunity.id


def test_checklist_ticks_only_count_for_the_stage_being_left(
    db, pipeline, seller, make_contact
):
    from crm.opportunities import services
    from crm.opportunities.models import ChecklistItem

    other = ChecklistItem(stage=pipeline["demo"], description="Quote", required=True)
    db.session.add(other)
    db.session.commit()
    opportunity = make_opportunity(
        db, make_contact(owner=seller), seller, pipeline["new"]
    )
    with pytest.raises(ServiceError, match="Call"):
        services.move(
            opportunity, pipeline["demo"], seller, checklist_done=[other.id, "x"]
        )
    db.session.rollback()


# Screens ------------------------------------------------------------------------------


def test_stage_admin_saves_checklist_and_reasons_inline(app, db, web, admin_user):
    from crm.opportunities.models import Stage

    web.login(admin_user.email)
    response = web.post(
        "/admin/opportunity_stage/new/",
        {
            "name": "Won",
            "position": "90",
            "probability": "100",
            "target_days": "0",
            "kind": "won",
            "reason_required": "y",
            "checklist-0-description": "Sign contract",
            "checklist-0-required": "y",
            "checklist-0-position": "1",
            "reasons-0-text": "Best price",
            "reasons-0-position": "1",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    stage = db.session.scalar(select(Stage).where(Stage.name == "Won"))
    assert [(i.description, i.required) for i in stage.checklist] == [
        ("Sign contract", True)
    ]
    assert [r.text for r in stage.reasons] == ["Best price"]

    second = web.post(
        "/admin/opportunity_stage/new/",
        {"name": "Also won", "position": "91", "probability": "100", "kind": "won"},
        follow_redirects=True,
    )
    assert "Won is already the win stage" in second.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Stage.id))) == 1

    bad = web.post(
        "/admin/opportunity_stage/new/",
        {"name": "Odd", "position": "1", "probability": "150", "kind": "open"},
    )
    assert "The probability is from 0 to 100." in bad.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Stage.id))) == 1


def test_create_screen_presets_the_contact_and_refuses_low_above_high(
    app, db, web, pipeline, make_contact
):
    from crm.opportunities.models import Opportunity

    user = quick_user(db, "rep@example.com", name="Rita Rep")
    web.login(user.email)
    contact = make_contact("Jane", "Doe", owner=user)
    page = web.get(f"/admin/opportunity/new/?contact_id={contact.id}")
    assert page.status_code == 200
    assert f'value="{contact.id}"' in page.get_data(as_text=True)

    form = {
        "title": "Big deal",
        "contact": str(contact.id),
        "stage": str(pipeline["new"].id),
        "owner": str(user.id),
        "revenue_low": "900.00",
        "revenue_high": "100.00",
        "currency": "USD",
        "include_in_forecast": "y",
    }
    refused = web.post("/admin/opportunity/new/", form, follow_redirects=True)
    assert (
        "The low projected revenue cannot be above the high one."
        in refused.get_data(as_text=True)
    )
    assert db.session.scalar(select(func.count(Opportunity.id))) == 0

    form["revenue_low"] = "100.00"
    form["revenue_high"] = "900.50"
    saved = web.post("/admin/opportunity/new/", form)
    assert saved.status_code == 302
    opportunity = db.session.scalar(select(Opportunity))
    assert opportunity.revenue_high == Decimal("900.50")
    assert opportunity.created_by_id == user.id
    assert [m.to_stage.name for m in opportunity.moves] == ["New"]


def test_field_definitions_follow_the_contact_field_rules(app, db, web, admin_user):
    from crm.opportunities.models import OpportunityField

    web.login(admin_user.email)
    form = {"label": "Deal size", "machine_name": "", "field_type": "dropdown"}
    for options, message in (
        ("", "A drop-down field needs its options, one a line."),
        ("Small\nsmall", "Each option can be listed once."),
    ):
        page = web.post("/admin/opportunity_field/new/", {**form, "options": options})
        assert message in page.get_data(as_text=True)
    bad_name = {**form, "options": "Small\nLarge", "machine_name": "deal size"}
    page = web.post("/admin/opportunity_field/new/", bad_name)
    assert "A field name uses letters, digits and underscores" in page.get_data(
        as_text=True
    )
    assert db.session.scalar(select(func.count(OpportunityField.id))) == 0

    saved = web.post("/admin/opportunity_field/new/", {**form, "options": "S\nL"})
    assert saved.status_code == 302
    again = web.post("/admin/opportunity_field/new/", {**form, "options": "S\nL"})
    assert again.status_code == 302
    names = db.session.scalars(
        select(OpportunityField.field_name).order_by(OpportunityField.id)
    )
    assert list(names) == ["DealSize", "DealSize2"]


def test_custom_fields_are_validated_and_stored(
    app, db, web, admin_user, pipeline, make_contact
):
    from crm.opportunities.models import Opportunity, OpportunityField

    field = OpportunityField(
        label="Seats", field_name="Seats", field_type="whole_number"
    )
    db.session.add(field)
    db.session.commit()
    web.login(admin_user.email)
    contact = make_contact(owner=admin_user)
    form = {
        "title": "Seats deal",
        "contact": str(contact.id),
        "stage": str(pipeline["new"].id),
        "currency": "USD",
        f"cf_{field.id}": "many",
    }
    refused = web.post("/admin/opportunity/new/", form, follow_redirects=True)
    assert "Seats: enter a whole number" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Opportunity.id))) == 0

    form[f"cf_{field.id}"] = "1,200"
    assert web.post("/admin/opportunity/new/", form).status_code == 302
    opportunity = db.session.scalar(select(Opportunity))
    assert [(v.field_id, v.value) for v in opportunity.field_values] == [
        (field.id, "1200")
    ]
    edit = web.get(f"/admin/opportunity/edit/?id={opportunity.id}")
    assert 'value="1200"' in edit.get_data(as_text=True)


def test_edit_screen_has_no_stage_field(
    app, db, web, admin_user, pipeline, make_contact
):
    opportunity = make_opportunity(
        db, make_contact(owner=admin_user), admin_user, pipeline["new"]
    )
    web.login(admin_user.email)
    page = web.get(f"/admin/opportunity/edit/?id={opportunity.id}").get_data(
        as_text=True
    )
    assert 'name="title"' in page and 'name="stage"' not in page


def test_record_tab_shows_active_and_closed_with_history(
    app, db, web, pipeline, make_contact
):
    from crm.opportunities import services

    user = quick_user(db, "tab@example.com", name="Tab User")
    contact = make_contact("Jane", "Doe", owner=user)
    active = make_opportunity(db, contact, user, pipeline["demo"], title="Open deal")
    closed = make_opportunity(db, contact, user, pipeline["demo"], title="Done <deal>")
    services.move(closed, pipeline["won"], user, reason="Price")
    db.session.commit()

    web.login(user.email)
    page = web.get(f"/admin/contact/details/?id={contact.id}&tab=opportunities")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    active_part, closed_part = body.split('id="closed-opportunities"')
    assert "Open deal" in active_part and "Done &lt;deal&gt;" not in active_part
    assert "Done &lt;deal&gt;" in closed_part and "<deal>" not in body
    assert "Demo → Won" in closed_part and "Price" in closed_part
    assert f"contact_id={contact.id}" in body  # the add button presets the contact
    assert active.id != closed.id


def test_default_stages_are_installed_once(db):
    from crm.opportunities import services

    added = services.install_default_stages()
    assert [s.kind for s in added].count("won") == 1
    assert services.install_default_stages() == []
    for stage in added:
        services.check_stage(stage)


def test_estimated_close_date_reaches_the_list(
    app, db, web, admin_user, pipeline, make_contact
):
    make_opportunity(
        db,
        make_contact(owner=admin_user),
        admin_user,
        pipeline["new"],
        estimated_close_on=date(2027, 2, 3),
        revenue_high=Decimal("1234.50"),
    )
    web.login(admin_user.email)
    body = web.get("/admin/opportunity/").get_data(as_text=True)
    assert "2027-02-03" in body and "$1,234.50" in body


def test_tab_move_form_moves_and_refuses_with_the_rule_message(
    app, db, web, pipeline, make_contact
):
    from crm.opportunities.models import Opportunity

    user = quick_user(db, "mover@example.com", name="Mo Ver")
    contact = make_contact("Jane", "Doe", owner=user)
    opportunity = make_opportunity(db, contact, user, pipeline["new"])
    call = pipeline["new"].checklist[0]
    web.login(user.email)
    tab = web.get(f"/admin/contact/details/?id={contact.id}&tab=opportunities")
    assert f'/admin/pipeline/move-form/{opportunity.id}"' in tab.get_data(as_text=True)
    url = f"/admin/pipeline/move-form/{opportunity.id}"

    refused = web.post(url, {"stage_id": pipeline["demo"].id}, follow_redirects=True)
    assert "Check the required items of New before moving on: Call." in (
        refused.get_data(as_text=True)
    )
    moved = web.post(
        url,
        {"stage_id": pipeline["demo"].id, "checklist": str(call.id)},
        follow_redirects=True,
    )
    assert "Website redesign moved to Demo." in moved.get_data(as_text=True)
    won = web.post(url, {"stage_id": pipeline["won"].id, "reason": "Price"})
    assert won.headers["Location"].endswith(f"id={contact.id}&tab=opportunities")

    db.session.expire_all()
    saved = db.session.get(Opportunity, opportunity.id)
    assert [m.to_stage.name for m in saved.moves] == ["New", "Demo", "Won"]
    assert saved.close_reason == "Price"


def test_days_in_stage_and_overdue_follow_the_stage_target(db, pipeline, make_contact):
    from datetime import timedelta

    from crm.core.db import utcnow
    from crm.opportunities import services

    pipeline["demo"].target_days = 3
    opportunity = make_opportunity(db, make_contact(), None, pipeline["demo"])
    now = utcnow()
    opportunity.stage_entered_at = now - timedelta(days=3, hours=1)
    assert services.days_in_stage(opportunity, now) == 3
    assert not services.is_overdue(opportunity, now)
    opportunity.stage_entered_at = now - timedelta(days=4)
    assert services.is_overdue(opportunity, now)
    pipeline["demo"].target_days = 0
    assert not services.is_overdue(opportunity, now)


def test_owner_stays_when_the_editor_may_not_reassign(
    app, db, web, pipeline, make_contact
):
    from crm.access import services as access
    from crm.opportunities.models import Opportunity

    user = quick_user(db, "keeper@example.com", name="Kee Per")
    other = quick_user(db, "other@example.com", name="Oth Er")
    access.set_user_permissions(user, {"opportunities": {"can_reassign_owner": False}})
    db.session.commit()
    opportunity = make_opportunity(db, make_contact(owner=user), user, pipeline["new"])
    web.login(user.email)
    form = {
        "title": "Renamed",
        "contact": str(opportunity.contact_id),
        "owner": str(other.id),
        "currency": "USD",
    }
    url = f"/admin/opportunity/edit/?id={opportunity.id}"
    refused = web.post(url, form, follow_redirects=True)
    assert "You may not give opportunities to other users." in refused.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert db.session.get(Opportunity, opportunity.id).title == "Website redesign"

    form["owner"] = str(user.id)
    assert web.post(url, form).status_code == 302
    db.session.expire_all()
    saved = db.session.get(Opportunity, opportunity.id)
    assert (saved.title, saved.owner_id, saved.updated_by_id) == (
        "Renamed",
        user.id,
        user.id,
    )


def test_cli_installs_the_default_stages_once(db, runner):
    from crm.opportunities.models import Stage

    first = runner.invoke(args=["opportunities", "default-stages"])
    assert first.exit_code == 0, first.output
    assert "Won: 100 % (won)" in first.output
    again = runner.invoke(args=["opportunities", "default-stages"])
    assert "nothing was added" in again.output
    assert db.session.scalar(select(func.count(Stage.id))) == 7


def test_admin_pages_render(app, db, web, admin_user, pipeline, make_contact):
    from crm.opportunities.models import OpportunityField

    db.session.add(
        OpportunityField(
            label="Size", field_name="Size", field_type="dropdown", options="S\nM"
        )
    )
    db.session.commit()
    opportunity = make_opportunity(
        db, make_contact(owner=admin_user), admin_user, pipeline["new"]
    )
    web.login(admin_user.email)
    for url in (
        "/admin/opportunity/",
        "/admin/opportunity/?flt0_stage_name_equals=New",
        f"/admin/opportunity/details/?id={opportunity.id}",
        f"/admin/opportunity/edit/?id={opportunity.id}",
        "/admin/opportunity/new/",
        "/admin/opportunity_stage/",
        f"/admin/opportunity_stage/edit/?id={pipeline['won'].id}",
        "/admin/opportunity_field/",
        "/admin/opportunity_field/new/",
        "/admin/pipeline/",
        "/admin/forecast/",
    ):
        response = web.get(url)
        assert response.status_code == 200, url
    spanish = web.get("/admin/pipeline/", headers={"Accept-Language": "es"})
    assert "Embudo de ventas" in spanish.get_data(as_text=True)


def test_export_contains_only_visible_rows(app, db, web, pipeline, make_contact):
    from tests.access_helpers import set_contacts

    mine = quick_user(db, "mine@example.com", name="Mine")
    other = quick_user(db, "theirs@example.com", name="Theirs")
    set_contacts(db, mine, view_scope="own", edit_scope="own")
    make_opportunity(db, make_contact(owner=mine), mine, pipeline["new"], title="Ours")
    make_opportunity(
        db, make_contact("Zed", owner=other), other, pipeline["new"], title="=Theirs"
    )
    web.login(mine.email)
    csv = web.get("/admin/opportunity/export/csv/", buffered=True).get_data(
        as_text=True
    )
    assert "Ours" in csv and "Theirs" not in csv
    formula = make_contact("Formula", owner=mine)
    make_opportunity(db, formula, mine, pipeline["new"], title="=SUM(1)")
    csv = web.get("/admin/opportunity/export/csv/", buffered=True).get_data(
        as_text=True
    )
    assert "'=SUM(1)" in csv


def test_a_move_on_a_stale_copy_fails_and_records_nothing(
    db, pipeline, seller, make_contact
):
    from sqlalchemy import update
    from sqlalchemy.orm.exc import StaleDataError

    from crm.opportunities import services
    from crm.opportunities.models import Opportunity, StageMove

    opportunity = make_opportunity(db, make_contact(), seller, pipeline["demo"])
    # Another request saved it after this one loaded it.
    with db.engine.begin() as connection:
        connection.execute(
            update(Opportunity)
            .where(Opportunity.id == opportunity.id)
            .values(version=Opportunity.version + 1)
        )
    with pytest.raises(StaleDataError):
        services.move(opportunity, pipeline["lost"], seller)
    db.session.rollback()
    moves = select(func.count(StageMove.id)).where(
        StageMove.opportunity_id == opportunity.id
    )
    assert db.session.scalar(moves) == 1


def test_board_shows_closed_cards_of_the_last_90_days(
    db, pipeline, seller, make_contact
):
    from datetime import timedelta

    from crm.core.db import utcnow
    from crm.opportunities import services

    old = make_opportunity(db, make_contact(), seller, pipeline["demo"], title="Old")
    new = make_opportunity(db, make_contact(), seller, pipeline["demo"], title="New")
    for opportunity in (old, new):
        services.move(opportunity, pipeline["lost"], seller)
    old.closed_at = utcnow() - timedelta(days=91)
    db.session.commit()
    lost = {c.stage.name: c for c in services.board(seller)}["Lost"]
    assert [card.title for card in lost.cards] == ["New"]


def test_feed_detail_of_a_move_escapes_names_and_shows_the_reason(app):
    from crm.activity import kinds
    from crm.activity.models import ActivityEvent

    describe = kinds.get("opportunity_stage").describe
    event = ActivityEvent(data={"from": "Demo", "to": "Won", "reason": "<b>Price</b>"})
    html = str(describe(event))
    assert html == '<span class="opportunity-reason">(&lt;b&gt;Price&lt;/b&gt;)</span>'
    assert describe(ActivityEvent(data={"from": "Demo", "to": "Won"})) is None
