"""Forecast sums and board totals, with exact Decimals."""

from datetime import date
from decimal import Decimal

import pytest

from tests.access_helpers import quick_user
from tests.test_opportunities import make_opportunity, make_pipeline

D = Decimal


@pytest.fixture
def book(db, make_contact):
    from crm.opportunities import services

    stages = make_pipeline(db)
    alice = quick_user(db, "alice@example.com", name="Alice")
    bob = quick_user(db, "bob@example.com", name="Bob")
    contact = make_contact("Jane", "Doe", owner=alice)

    def add(title, stage, owner, close=None, low=None, high=None, **extra):
        return make_opportunity(
            db,
            contact,
            owner,
            stages[stage],
            title=title,
            estimated_close_on=close,
            revenue_low=None if low is None else D(low),
            revenue_high=None if high is None else D(high),
            **extra,
        )

    add("a", "demo", alice, date(2027, 1, 15), "100.00", "301.00")  # 200.50 × 50 %
    add("b", "new", alice, date(2027, 1, 31), None, "999.99")  # 999.99 × 10 %
    add("c", "demo", bob, date(2027, 2, 1), "10.01", "10.02")  # 10.015 × 50 %
    add("d", "new", bob, date(2027, 2, 28), "0.05", None)  # 0.05 × 10 %
    add("eur", "demo", bob, date(2027, 1, 2), "50.00", "50.00", currency="EUR")
    won = add("won", "demo", alice, date(2027, 1, 3), "1000.00", "1000.00")
    services.move(won, stages["won"], alice, reason="Price")
    add("out", "demo", alice, date(2027, 1, 4), "1000.00", "1000.00")
    add(
        "out",
        "demo",
        alice,
        date(2027, 1, 4),
        "1000.00",
        "1000.00",
        include_in_forecast=False,
    )
    add("undated", "demo", alice, None, "1000.00", "1000.00")
    add("no amount", "demo", alice, date(2027, 1, 5))
    db.session.commit()
    return {"stages": stages, "alice": alice, "bob": bob}


def _opportunity_titled(db, title):
    from sqlalchemy import select

    from crm.opportunities.models import Opportunity

    return db.session.scalars(
        select(Opportunity).where(Opportunity.title == title)
    ).all()


def test_forecast_weights_midpoints_by_probability_per_month_and_owner(db, book):
    from crm.opportunities import services

    # "out" is included once (the copy with include_in_forecast); remove it to
    # keep the table to the documented rows.
    included = [o for o in _opportunity_titled(db, "out") if o.include_in_forecast]
    db.session.delete(included[0])
    db.session.commit()

    eur, usd = services.forecast(book["alice"])
    alice, bob = book["alice"].id, book["bob"].id
    jan, feb = date(2027, 1, 1), date(2027, 2, 1)

    assert usd.currency == "USD" and eur.currency == "EUR"
    assert usd.months == [jan, feb]
    assert [label for _id, label in usd.owners] == ["Alice", "Bob"]
    # 100.25 + 99.999 = 200.249 -> 200.25; 5.0075 + 0.005 = 5.0125 -> 5.01
    assert usd.cells == {(jan, alice): D("200.25"), (feb, bob): D("5.01")}
    assert usd.month_totals == {jan: D("200.25"), feb: D("5.01")}
    assert usd.owner_totals == {alice: D("200.25"), bob: D("5.01")}
    # The total rounds the exact sum 205.2615, not the rounded cells.
    assert usd.total == D("205.26")
    assert eur.cells == {(jan, bob): D("25.00")} and eur.total == D("25.00")


def test_forecast_owner_filter_and_page(db, web, book):
    from crm.opportunities import services

    tables = services.forecast(book["alice"], owner_id=book["bob"].id)
    assert [t.currency for t in tables] == ["EUR", "USD"]
    assert tables[1].total == D("5.01")

    web.login(book["alice"].email)
    page = web.get(f"/admin/forecast/?owner={book['bob'].id}").get_data(as_text=True)
    assert 'forecast-total">$5.01<' in page and 'forecast-total">€25.00<' in page
    everyone = web.get("/admin/forecast/").get_data(as_text=True)
    # With the included "out" deal: 200.25 + 500.00 in January.
    assert 'forecast-total">$705.26<' in everyone


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (None, None, None),
        ("10.00", None, D("10.00")),
        (None, "10.00", D("10.00")),
        ("10.00", "10.01", D("10.005")),
        ("0.00", "0.00", D("0")),
    ],
)
def test_forecast_amount_is_the_midpoint(low, high, expected):
    from crm.opportunities import services
    from crm.opportunities.models import Opportunity

    opportunity = Opportunity(
        revenue_low=None if low is None else D(low),
        revenue_high=None if high is None else D(high),
    )
    assert services.forecast_amount(opportunity) == expected


def test_board_totals_per_stage_and_owner_filter(db, web, book):
    from crm.opportunities import services

    columns = {c.stage.name: c for c in services.board(book["alice"])}
    demo = columns["Demo"]
    assert demo.count == 7
    assert dict(demo.low) == {"USD": D("3110.01"), "EUR": D("50.00")}
    assert dict(demo.high) == {"USD": D("3311.02"), "EUR": D("50.00")}
    assert (columns["New"].count, dict(columns["New"].high)) == (
        2,
        {"USD": D("999.99")},
    )
    assert columns["Won"].count == 1 and columns["Lost"].count == 0

    bob_only = {c.stage.name: c for c in services.board(book["alice"], book["bob"].id)}
    assert bob_only["Demo"].count == 2
    assert dict(bob_only["Demo"].low) == {"USD": D("10.01"), "EUR": D("50.00")}

    web.login(book["alice"].email)
    page = web.get(f"/admin/pipeline/?owner={book['bob'].id}").get_data(as_text=True)
    demo_id = book["stages"]["demo"].id
    totals = page.split(f'data-totals-for="{demo_id}"')[1].split("</div>")[0]
    assert 'pipeline-count">2<' in totals
    assert "€50.00; $10.01" in totals and "€50.00; $10.02" in totals


def test_board_caps_cards_per_stage_but_totals_count_everything(
    db, web, book, monkeypatch
):
    from crm.opportunities import services

    monkeypatch.setattr(services, "BOARD_CARDS_PER_STAGE", 2)
    demo = {c.stage.name: c for c in services.board(book["alice"])}["Demo"]
    assert (demo.count, len(demo.cards), demo.more) == (7, 2, 5)
    # Soonest close date first; undated ones last.
    assert [card.estimated_close_on for card in demo.cards] == [
        date(2027, 1, 2),
        date(2027, 1, 4),
    ]
    assert dict(demo.high)["USD"] == D("3311.02")

    web.login(book["alice"].email)
    page = web.get("/admin/pipeline/").get_data(as_text=True)
    assert "5 more; narrow the board by owner" in page
