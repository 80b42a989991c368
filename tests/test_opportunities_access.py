"""Who sees which opportunity: the contact's visibility and the area's own/all scope."""

import json

import pytest
from sqlalchemy import select

from crm.access import policy
from tests.access_helpers import quick_user, set_contacts
from tests.test_opportunities import make_opportunity, make_pipeline


def set_opportunities(db, user, **values):
    from crm.access import services

    services.set_user_permissions(user, {"opportunities": values})
    db.session.commit()


@pytest.fixture
def world(db, make_contact):
    """Alice: own contacts, own opportunities. Bob: own contacts plus a share,
    all opportunities. Carol: own contacts, a view-only share, all opportunities."""
    from crm.access.models import ContactShare

    stages = make_pipeline(db)
    alice = quick_user(db, "alice@example.com", name="Alice")
    bob = quick_user(db, "bob@example.com", name="Bob")
    carol = quick_user(db, "carol@example.com", name="Carol")
    other = quick_user(db, "other@example.com", name="Other")
    for user in (alice, bob, carol, other):
        set_contacts(db, user, view_scope="own", edit_scope="own")
    set_opportunities(db, alice, view_scope="own", edit_scope="own")

    shared = make_contact("Shared", "Person", owner=alice)
    hidden = make_contact("Zyxhidden", "Doe", owner=other)
    db.session.add_all(
        [
            ContactShare(contact_id=shared.id, user_id=bob.id, level="edit"),
            ContactShare(contact_id=shared.id, user_id=carol.id, level="view"),
        ]
    )
    db.session.commit()
    opportunities = {
        "alice-deal": make_opportunity(
            db, shared, alice, stages["demo"], title="alice-deal", **_forecastable()
        ),
        "bob-deal": make_opportunity(
            db, shared, bob, stages["demo"], title="bob-deal", **_forecastable()
        ),
        "hidden-deal": make_opportunity(
            db, hidden, alice, stages["demo"], title="hidden-deal", **_forecastable()
        ),
    }
    return {
        "stages": stages,
        "users": {"alice": alice, "bob": bob, "carol": carol, "other": other},
        "shared": shared,
        "hidden": hidden,
        "opportunities": opportunities,
    }


def _forecastable():
    from datetime import date
    from decimal import Decimal

    return {
        "estimated_close_on": date(2027, 3, 10),
        "revenue_low": Decimal("100.00"),
        "revenue_high": Decimal("300.00"),
    }


SEES = [
    ("alice", policy.VIEW, {"alice-deal"}),
    ("alice", policy.EDIT, {"alice-deal"}),
    ("bob", policy.VIEW, {"alice-deal", "bob-deal"}),
    ("bob", policy.EDIT, {"alice-deal", "bob-deal"}),
    ("carol", policy.VIEW, {"alice-deal", "bob-deal"}),
    ("carol", policy.EDIT, set()),
    ("other", policy.VIEW, {"hidden-deal"}),
]


@pytest.mark.parametrize(("who", "action", "titles"), SEES)
def test_rule_combines_contact_visibility_and_area_scope(
    db, world, who, action, titles
):
    from crm.opportunities.models import Opportunity, StageMove

    user = world["users"][who]
    rows = db.session.scalars(
        select(Opportunity.title).where(policy.scope(Opportunity, user, action))
    )
    assert set(rows) == titles
    moves = db.session.scalars(
        select(StageMove.opportunity_id).where(policy.scope(StageMove, user, action))
    )
    ids = {world["opportunities"][t].id for t in titles}
    assert set(moves) == ids


@pytest.mark.parametrize(("who", "action", "titles"), SEES[::2])
def test_board_forecast_and_list_show_only_what_the_rule_allows(
    db, web, world, who, action, titles
):
    web.login(world["users"][who].email)
    board = web.get("/admin/pipeline/").get_data(as_text=True)
    forecast = web.get("/admin/forecast/").get_data(as_text=True)
    listing = web.get("/admin/opportunity/").get_data(as_text=True)
    for title in ("alice-deal", "bob-deal", "hidden-deal"):
        assert (title in board) == (title in titles), (who, title, "board")
        assert (title in listing) == (title in titles), (who, title, "list")
    if "hidden-deal" not in titles:
        assert "Zyxhidden" not in board + forecast + listing
    # 200 × 50 % per visible opportunity, all in March 2027.
    expected = f"${100 * len(titles):,.2f}"
    if titles:
        assert f'forecast-total">{expected}<' in forecast
    else:
        assert 'id="empty-forecast"' in forecast


def test_board_totals_count_only_visible_cards(db, web, world):
    web.login(world["users"]["alice"].email)
    page = web.get("/admin/pipeline/").get_data(as_text=True)
    demo = world["stages"]["demo"].id
    part = page.split(f'data-totals-for="{demo}"')[1].split("</div>")[0]
    assert 'pipeline-count">1<' in part
    assert "$100.00" in part and "$300.00" in part


def test_tab_lists_only_visible_opportunities(db, web, world):
    web.login(world["users"]["alice"].email)
    shared = world["shared"].id
    body = web.get(f"/admin/contact/details/?id={shared}&tab=opportunities").get_data(
        as_text=True
    )
    assert "alice-deal" in body and "bob-deal" not in body
    hidden = web.get(
        f"/admin/contact/details/?id={world['hidden'].id}&tab=opportunities"
    )
    assert hidden.status_code in (302, 404)
    assert "hidden-deal" not in hidden.get_data(as_text=True)


def _move(web, opportunity_id, **body):
    return web.client.post(
        f"/admin/pipeline/move/{opportunity_id}",
        data=json.dumps(body),
        content_type="application/json",
        headers={"X-CSRFToken": web.token()},
    )


def test_move_endpoint_answers_hidden_like_missing_and_changes_nothing(db, web, world):
    from crm.opportunities.models import Opportunity

    web.login(world["users"]["alice"].email)
    lost = world["stages"]["lost"].id
    hidden = world["opportunities"]["hidden-deal"]
    bob_deal = world["opportunities"]["bob-deal"]
    answers = [
        _move(web, opportunity_id, stage_id=lost)
        for opportunity_id in (hidden.id, bob_deal.id, 9_999_999)
    ]
    assert {a.status_code for a in answers} == {404}
    assert len({a.get_data() for a in answers}) == 1
    assert "Zyxhidden" not in answers[0].get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Opportunity, hidden.id).stage.name == "Demo"
    assert len(db.session.get(Opportunity, bob_deal.id).moves) == 1


def test_view_only_share_cannot_move(db, web, world):
    web.login(world["users"]["carol"].email)
    board = web.get("/admin/pipeline/").get_data(as_text=True)
    assert board.count('draggable="true"') == 0 and "alice-deal" in board
    answer = _move(
        web,
        world["opportunities"]["alice-deal"].id,
        stage_id=world["stages"]["lost"].id,
    )
    assert answer.status_code == 404


def test_move_endpoint_moves_refuses_and_needs_csrf(db, web, world):
    from crm.opportunities.models import Opportunity

    web.login(world["users"]["bob"].email)
    deal = world["opportunities"]["bob-deal"]
    won = world["stages"]["won"].id

    refused = _move(web, deal.id, stage_id=won)
    assert refused.status_code == 409
    assert refused.get_json()["message"] == "Choose a reason for moving to Won."
    assert refused.get_json()["reasons"] == ["Price", "Service"]

    no_token = web.client.post(
        f"/admin/pipeline/move/{deal.id}",
        data=json.dumps({"stage_id": won, "reason": "Price"}),
        content_type="application/json",
    )
    assert no_token.status_code == 400
    db.session.expire_all()
    assert db.session.get(Opportunity, deal.id).stage.name == "Demo"

    done = _move(web, deal.id, stage_id=won, reason="Price")
    assert done.status_code == 200, done.get_json()
    answer = done.get_json()
    assert answer["ok"] is True and answer["stage_id"] == won
    assert answer["totals"][str(won)]["count"] == 1
    db.session.expire_all()
    saved = db.session.get(Opportunity, deal.id)
    assert saved.stage_id == won and saved.close_reason == "Price"
    assert saved.moves[-1].moved_by_id == world["users"]["bob"].id


def test_owner_without_reassign_right_cannot_give_opportunities_away(
    db, web, world, make_contact
):
    from crm.opportunities.models import Opportunity

    alice = world["users"]["alice"]
    set_opportunities(db, alice, can_reassign_owner=False)
    web.login(alice.email)
    form = {
        "title": "Gift",
        "contact": str(world["shared"].id),
        "stage": str(world["stages"]["new"].id),
        "owner": str(world["users"]["bob"].id),
        "currency": "USD",
    }
    page = web.post("/admin/opportunity/new/", form, follow_redirects=True)
    assert "You may not give opportunities to other users." in page.get_data(
        as_text=True
    )
    assert (
        db.session.scalar(select(Opportunity).where(Opportunity.title == "Gift"))
        is None
    )


def test_contact_picker_and_hidden_contact_post_are_refused(db, web, world):
    from crm.opportunities.models import Opportunity

    web.login(world["users"]["alice"].email)
    found = web.get(
        "/admin/opportunity/ajax/lookup/",
        query_string={"name": "contact", "query": "zyx"},
    )
    assert found.get_json() == []
    form = {
        "title": "Sneaky",
        "contact": str(world["hidden"].id),
        "stage": str(world["stages"]["new"].id),
        "currency": "USD",
    }
    web.post("/admin/opportunity/new/", form)
    assert (
        db.session.scalar(select(Opportunity).where(Opportunity.title == "Sneaky"))
        is None
    )
