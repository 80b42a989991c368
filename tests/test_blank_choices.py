"""Relation selects offer an empty choice with a label, never Flask-Admin's
internal "__None" value as text."""

import html
import re

import pytest

pytest_plugins = ["tests.test_sales_support"]

BLANK_OPTION = re.compile(r'<option[^>]*value="__None"[^>]*>([^<]*)</option>')


@pytest.mark.parametrize("url", ["/admin/task/new/?contact_id={id}", "/admin/tag/new/"])
def test_empty_choice_of_a_relation_select_has_a_label(
    web, login_as, make_contact, url
):
    user = login_as("admin")
    contact = make_contact(owner=user)

    page = web.get(url.format(id=contact.id)).get_data(as_text=True)

    labels = BLANK_OPTION.findall(page)
    assert labels, "the form has no optional relation select"
    assert "__None" not in labels
    assert set(labels) == {"—"}


def test_the_row_an_inline_list_adds_labels_its_empty_choice(
    web, login_as, make_product
):
    login_as("admin")
    make_product("Desk lamp", "24.50")

    page = web.get("/admin/order/new/").get_data(as_text=True)

    # A new order has no lines: the product select is only in the row "Add" copies,
    # which the page carries escaped.
    unescaped = html.unescape(page)
    product_blanks = re.findall(
        r'<select[^>]*name="[^"]*product"[^>]*>\s*<option[^>]*value="__None"[^>]*>'
        r"([^<]*)</option>",
        unescaped,
    )
    assert product_blanks == ["—"]
