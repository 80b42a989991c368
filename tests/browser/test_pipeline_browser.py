"""In real Chromium: create an opportunity, drag it to the win stage, give a reason."""

import pytest
from sqlalchemy import select

from tests.access_helpers import quick_user
from tests.test_opportunities import make_pipeline

pytestmark = pytest.mark.browser


def create_opportunity_from_tab(page, live_server, db, contact, stages, title):
    """From the record tab's add button (the contact is preset) into Demo."""
    from crm.opportunities.models import Opportunity

    page.goto(f"{live_server}/admin/contact/details/?id={contact.id}&tab=opportunities")
    page.click("#add-opportunity")
    page.fill("#title", title)
    # select2 hides the real select; the form posts its value.
    page.select_option("#stage", str(stages["demo"].id), force=True)
    page.fill("#revenue_low", "1000.00")
    page.fill("#revenue_high", "3000.00")
    page.click("input[type=submit].btn-primary")
    page.wait_for_selector("#opportunities-tab")
    opportunity = db.session.scalar(
        select(Opportunity).where(Opportunity.title == title)
    )
    assert opportunity is not None and opportunity.contact_id == contact.id
    return opportunity


def win_with_reason(page, opportunity, stages, reason):
    """On the board: drag the card to Won, answer the required reason, see it land."""
    card = page.locator(f".pipeline-card[data-opportunity-id='{opportunity.id}']")
    won = page.locator(f".pipeline-column[data-stage-id='{stages['won'].id}']")
    card.drag_to(won.locator(".pipeline-cards"))
    page.wait_for_selector("#pipeline-dialog[open]")
    assert page.locator("#pipeline-reason option").all_inner_texts()[1:] == [
        "Price",
        "Service",
    ]
    # The reason is required: the empty choice cannot be picked.
    assert page.locator("#pipeline-reason option").first.is_disabled()
    page.select_option("#pipeline-reason", reason)
    page.click("#pipeline-dialog-ok")
    page.wait_for_selector("#pipeline-board[data-last-move='done']")
    assert won.locator(f"[data-opportunity-id='{opportunity.id}']").count() == 1
    assert won.locator(".pipeline-count").inner_text() == "1"
    assert "moved to Won" in page.inner_text("#pipeline-message")


def test_drag_to_win_asks_for_a_reason_and_records_the_move(
    app, db, make_contact, live_server, page, sign_in
):
    from crm.opportunities.models import Opportunity

    stages = make_pipeline(db)
    user = quick_user(db, "rep@example.com", name="Rita Rep")
    contact = make_contact("Jane", "Doe", owner=user)
    sign_in(page, live_server, user.email)
    blocked = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else 0,
    )

    opportunity = create_opportunity_from_tab(
        page, live_server, db, contact, stages, "Kitchen remodel"
    )

    page.goto(f"{live_server}/admin/pipeline/")
    card = page.locator(f".pipeline-card[data-opportunity-id='{opportunity.id}']")
    won = page.locator(f".pipeline-column[data-stage-id='{stages['won'].id}']")
    demo = page.locator(f".pipeline-column[data-stage-id='{stages['demo'].id}']")
    assert demo.locator(".pipeline-count").inner_text() == "1"
    assert not page.is_visible("#pipeline-dialog")

    # Cancelling the dialog puts the card back.
    card.drag_to(won.locator(".pipeline-cards"))
    page.wait_for_selector("#pipeline-dialog[open]")
    page.click("#pipeline-dialog-cancel")
    assert demo.locator(f"[data-opportunity-id='{opportunity.id}']").count() == 1

    win_with_reason(page, opportunity, stages, "Service")
    assert demo.locator(".pipeline-count").inner_text() == "0"
    assert blocked == []

    db.session.expire_all()
    saved = db.session.get(Opportunity, opportunity.id)
    assert saved.stage_id == stages["won"].id and saved.close_reason == "Service"
    assert [(m.to_stage.name, m.reason, m.moved_by_id) for m in saved.moves] == [
        ("Demo", None, user.id),
        ("Won", "Service", user.id),
    ]


def test_a_refused_move_returns_the_card_to_its_column(
    app, db, make_contact, live_server, page, sign_in
):
    from tests.test_opportunities import make_opportunity

    stages = make_pipeline(db)
    user = quick_user(db, "rep@example.com", name="Rita Rep")
    contact = make_contact("Jane", "Doe", owner=user)
    opportunity = make_opportunity(db, contact, user, stages["new"], title="Porch")
    sign_in(page, live_server, user.email)

    page.goto(f"{live_server}/admin/pipeline/")
    card = page.locator(f".pipeline-card[data-opportunity-id='{opportunity.id}']")
    new = page.locator(f".pipeline-column[data-stage-id='{stages['new'].id}']")
    demo = page.locator(f".pipeline-column[data-stage-id='{stages['demo'].id}']")

    # New has a required checklist item: the dialog asks; leaving it unticked
    # is refused by the server and the card goes back.
    card.drag_to(demo.locator(".pipeline-cards"))
    page.wait_for_selector("#pipeline-dialog[open]")
    assert page.inner_text("#pipeline-dialog-checklist").count("Call") == 1
    page.click("#pipeline-dialog-ok")
    page.wait_for_selector("#pipeline-board[data-last-move='refused']")
    assert new.locator(f"[data-opportunity-id='{opportunity.id}']").count() == 1
    assert "Check the required items of New" in page.inner_text("#pipeline-message")

    card.drag_to(demo.locator(".pipeline-cards"))
    page.wait_for_selector("#pipeline-dialog[open]")
    page.check("#pipeline-dialog-checklist input[type=checkbox] >> nth=0")
    page.click("#pipeline-dialog-ok")
    page.wait_for_selector("#pipeline-board[data-last-move='done']")
    assert demo.locator(f"[data-opportunity-id='{opportunity.id}']").count() == 1


def test_a_won_card_moves_to_lost_on_a_board_wider_than_the_window(
    app, db, make_contact, live_server, page, sign_in
):
    from crm.opportunities import services
    from crm.opportunities.models import Opportunity
    from tests.test_opportunities import make_opportunity

    stages = {s.name: s for s in services.install_default_stages()}
    db.session.commit()
    user = quick_user(db, "rep@example.com", name="Rita Rep")
    contact = make_contact("Jane", "Doe", owner=user)
    deal = make_opportunity(
        db, contact, user, stages["Negotiating"], title="20 desk lamps for the shop"
    )
    services.move(deal, stages["Won"], user)
    db.session.commit()
    sign_in(page, live_server, user.email)
    # Seven columns do not fit: Lost is out of sight to the right.
    page.set_viewport_size({"width": 1024, "height": 768})
    page.goto(f"{live_server}/admin/pipeline/")
    card = page.locator(f".pipeline-card[data-opportunity-id='{deal.id}']")
    won = page.locator(f".pipeline-column[data-stage-id='{stages['Won'].id}']")
    lost = page.locator(f".pipeline-column[data-stage-id='{stages['Lost'].id}']")
    assert page.evaluate(
        "() => { const b = document.getElementById('pipeline-board');"
        " return b.scrollWidth > b.clientWidth; }"
    )

    # Dropped outside every column: the board says so and nothing changes.
    card.drag_to(page.locator("#owner-filter, form").first)
    page.wait_for_selector("#pipeline-board[data-last-move='missed']")
    assert "Drop the card on a stage's column" in page.inner_text("#pipeline-message")
    assert won.locator(f"[data-opportunity-id='{deal.id}']").count() == 1

    # The card's own list reaches any stage.
    card.locator(".pipeline-move-to").select_option(str(stages["Lost"].id))
    page.wait_for_selector("#pipeline-board[data-last-move='done']")
    assert "moved to Lost" in page.inner_text("#pipeline-message")
    assert lost.locator(f"[data-opportunity-id='{deal.id}']").count() == 1
    assert lost.locator(".pipeline-count").inner_text() == "1"
    assert won.locator(".pipeline-count").inner_text() == "0"
    db.session.expire_all()
    assert db.session.get(Opportunity, deal.id).stage_id == stages["Lost"].id


def test_a_move_picked_from_the_list_that_the_rules_refuse_says_why(
    app, db, make_contact, live_server, page, sign_in
):
    from tests.test_opportunities import make_opportunity

    stages = make_pipeline(db)
    user = quick_user(db, "rep@example.com", name="Rita Rep")
    contact = make_contact("Jane", "Doe", owner=user)
    deal = make_opportunity(db, contact, user, stages["demo"], title="Porch")
    sign_in(page, live_server, user.email)
    page.goto(f"{live_server}/admin/pipeline/")
    card = page.locator(f".pipeline-card[data-opportunity-id='{deal.id}']")
    demo = page.locator(f".pipeline-column[data-stage-id='{stages['demo'].id}']")

    # Won needs a reason: the dialog asks, and cancelling leaves the card.
    card.locator(".pipeline-move-to").select_option(str(stages["won"].id))
    page.wait_for_selector("#pipeline-dialog[open]")
    page.click("#pipeline-dialog-cancel")
    assert demo.locator(f"[data-opportunity-id='{deal.id}']").count() == 1
    # Moving to the stage it is in is refused by the server, with its reason.
    card.locator(".pipeline-move-to").select_option(str(stages["demo"].id))
    page.wait_for_selector("#pipeline-board[data-last-move='refused']")
    assert "already in Demo" in page.inner_text("#pipeline-message")
