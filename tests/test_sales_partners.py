"""The order form records its lead and sales partner; commission follows them."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from crm.partners.models import Commission, CommissionRule
from crm.sales.models import Order

pytest_plugins = ["tests.test_sales_support", "tests.access_helpers"]

D = Decimal
REFUSED = "Choose an active referral partner from the list."


@pytest.fixture
def world(db, login_as, make_contact, make_product, fast_user):
    from crm.partners import services
    from tests.access_helpers import own_only

    user = login_as("user")
    own_only(db, user)
    other = fast_user("other@example.com")

    def partner(given, code, owner, status="active"):
        contact = make_contact(given, "Partner", owner=owner)
        return services.create_partner(contact, code, status=status)

    rule = CommissionRule(kind="percent", percent=D("10"))
    services.check_rule(rule)
    db.session.add(rule)
    world = {
        "user": user,
        "lead": partner("Lena", "LENA1", user),
        "seller": partner("Sofia", "SOFIA1", user),
        "sleeping": partner("Ivo", "IVO1", user, status="inactive"),
        "hidden": partner("Hugo", "HUGO1", other),
        "buyer": make_contact("Jane", "Buyer", owner=user),
        "lamp": make_product("Desk lamp", "50.00"),
    }
    db.session.commit()
    return world


def _form(world, lead="", sales=""):
    return {
        "contact": str(world["buyer"].id),
        "title": "Referred order",
        "order_date": "2026-03-01",
        "currency": "USD",
        "status": "draft",
        "notes": "",
        "terms": "",
        "lead_partner": lead,
        "sales_partner": sales,
        "lines-0-kind": "product",
        "lines-0-product": str(world["lamp"].id),
        "lines-0-description": "",
        "lines-0-quantity": "2",
        "lines-0-unit_price": "",
    }


def test_partners_chosen_on_the_form_show_and_the_sales_partner_earns(db, web, world):
    lead, seller = world["lead"], world["seller"]
    response = web.post("/admin/order/new/", _form(world, str(lead.id), str(seller.id)))

    assert response.status_code == 302, response.get_data(as_text=True)
    order = db.session.scalars(select(Order)).one()
    assert (order.lead_partner_id, order.sales_partner_id) == (lead.id, seller.id)

    page = web.get(f"/admin/order/details/?id={order.id}").get_data(as_text=True)
    assert "Lead partner: <span" in page and "LENA1 (Lena Partner)" in page
    assert "Sales partner: <span" in page and "SOFIA1 (Sofia Partner)" in page
    tab = web.get(f"/admin/contact/details/?id={world['buyer'].id}&tab=orders")
    tab_html = tab.get_data(as_text=True)
    assert 'class="order-partner">SOFIA1 (Sofia Partner)' in tab_html
    assert "LENA1 (Lena Partner)" in tab_html
    listing = web.get("/admin/order/").get_data(as_text=True)
    assert "SOFIA1 (Sofia Partner)" in listing

    # The edit form keeps them and can change the sales partner.
    edit = web.get(f"/admin/order/edit/?id={order.id}").get_data(as_text=True)
    assert "SOFIA1 (Sofia Partner)" in edit and "LENA1 (Lena Partner)" in edit

    paid = web.post(
        f"/admin/order/{order.id}/payment", {"amount": "100.00", "method": "cash"}
    )
    assert paid.status_code == 302
    commissions = db.session.scalars(select(Commission)).all()
    assert [(c.partner_id, c.state, c.amount) for c in commissions] == [
        (seller.id, "earned", D("10.00"))
    ]


@pytest.mark.parametrize("who", ["hidden", "sleeping", "missing"])
@pytest.mark.parametrize("field", ["lead_partner", "sales_partner"])
def test_a_partner_the_picker_would_not_offer_is_refused(db, web, world, who, field):
    partner_id = 987654 if who == "missing" else world[who].id
    form = _form(world)
    form[field] = str(partner_id)

    response = web.post("/admin/order/new/", form)

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert REFUSED in html
    assert "HUGO1" not in html
    assert db.session.scalars(select(Order)).all() == []


def test_editing_with_a_hidden_partner_keeps_the_old_one(db, web, world):
    seller = world["seller"]
    web.post("/admin/order/new/", _form(world, sales=str(seller.id)))
    order = db.session.scalars(select(Order)).one()
    form = _form(world, sales=str(world["hidden"].id))
    del form["contact"]

    response = web.post(f"/admin/order/edit/?id={order.id}", form)

    assert response.status_code == 200
    assert REFUSED in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Order, order.id).sales_partner_id == seller.id


def test_the_partner_picker_lists_active_partners_the_user_may_see(db, web, world):
    for name in ("lead_partner", "sales_partner"):
        response = web.get(f"/admin/order/ajax/lookup/?name={name}&query=")
        assert response.status_code == 200
        assert sorted(text for _id, text in response.get_json()) == [
            "LENA1 (Lena Partner)",
            "SOFIA1 (Sofia Partner)",
        ]
    found = web.get("/admin/order/ajax/lookup/?name=sales_partner&query=sofia")
    assert found.get_json() == [[world["seller"].id, "SOFIA1 (Sofia Partner)"]]
