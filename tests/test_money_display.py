"""Money is shown with the currency's own decimals in the reader's locale, on
the public pages, the order screens, the pipeline and in rule messages."""

from decimal import Decimal

import pytest
from flask_babel import force_locale

from crm.core.errors import ServiceError
from crm.sales.models import Product
from tests.webform_helpers import make_checkout

pytest_plugins = ["tests.test_sales_support"]

D = Decimal
SPANISH = {"Accept-Language": "es"}


@pytest.fixture
def lamp_page(db):
    product = Product(
        name="Desk lamp", price=D("24.50"), currency="USD", taxable=True, tax_rate=D(7)
    )
    db.session.add(product)
    db.session.commit()
    return make_checkout(db, product)


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        ("24.500", "USD", "en", "$24.50"),
        ("24.500", "USD", "es", "24,50\xa0US$"),
        ("1234.5", "EUR", "es", "1.234,50\xa0€"),
        ("1500", "JPY", "en", "¥1,500"),
        ("1.250", "KWD", "en", "KWD1.250"),
    ],
)
def test_format_money_uses_the_currency_decimals_and_the_locale(
    app, amount, currency, locale, shown
):
    from crm.core.i18n import format_money

    with force_locale(locale):
        assert format_money(D(amount), currency) == shown


def test_the_public_order_page_shows_the_price_in_the_readers_locale(client, lamp_page):
    english = client.get(f"/buy/{lamp_page.slug}").get_data(as_text=True)
    spanish = client.get(f"/buy/{lamp_page.slug}", headers=SPANISH)
    spanish = spanish.get_data(as_text=True)

    assert "Price: $24.50 · plus 7% tax" in english
    assert "24,50\xa0US$" in spanish and "24.500" not in spanish


def test_the_order_page_shows_unit_prices_as_money(web, login_as, make_order):
    user = login_as("admin")
    user.locale = "es"
    order = make_order([("service", "7.99", 2, None)])

    page = web.get(f"/admin/order/details/?id={order.id}").get_data(as_text=True)

    assert "7,99\xa0US$" in page and "15,98\xa0US$" in page
    assert "7.990" not in page


def test_an_empty_pipeline_column_totals_zero_in_the_default_currency(
    app, db, web, login_as
):
    from crm.opportunities import services

    login_as("admin")
    services.install_default_stages()
    db.session.commit()

    board = web.get("/admin/pipeline/").get_data(as_text=True)

    assert 'class="pipeline-low">$0.00<' in board
    assert 'class="pipeline-high">$0.00<' in board


def test_the_refund_limit_names_the_amount_as_money(app, db, make_order, seller):
    from crm.sales import services

    order = make_order([("service", "30.00", 1, None)])
    payment = services.record_payment(order, D("30.00"), "cash", seller)
    db.session.commit()

    with force_locale("es"), pytest.raises(ServiceError) as refused:
        services.refund(order, payment.id, D("30.01"), "Broken", seller)
    db.session.rollback()

    assert "30,00\xa0US$" in refused.value.message
