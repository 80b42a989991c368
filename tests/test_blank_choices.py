"""Relation selects offer an empty choice with a label, never Flask-Admin's
internal "__None" value as text."""

import re

import pytest

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
