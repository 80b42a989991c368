import pytest


@pytest.fixture
def signed_in(login_as):
    return login_as("user")


def test_list_shows_the_expected_columns(web, signed_in, make_contact):
    make_contact(
        "Jane", "Doe", email="jane@example.com", phone="+1 555 0100", company="Acme Inc"
    )
    page = web.get("/admin/contact/").get_data(as_text=True)
    assert "Jane Doe" in page
    assert "Acme Inc" in page
    assert "jane@example.com" in page
    assert "+1 555 0100" in page
    assert "1 contacts" in page or "1 contact" in page


@pytest.mark.parametrize(
    "fragment", ["ane@exam", "DOE", "acme", "555 0100", "5550100", "ja"]
)
def test_search_by_fragment(web, signed_in, make_contact, fragment):
    make_contact(
        "Jane", "Doe", email="jane@example.com", phone="+1 555 0100", company="Acme Inc"
    )
    make_contact("John", "Roe", email="john@other.test", phone="+44 20 7946 0000")
    page = web.get("/admin/contact/", query_string={"search": fragment}).get_data(
        as_text=True
    )
    assert "Jane Doe" in page
    assert "John Roe" not in page


def test_search_is_unicode_normalised(web, signed_in, make_contact):
    import unicodedata

    make_contact("José", "Müller", email="jose@example.com")
    nfd = unicodedata.normalize("NFD", "müller")
    page = web.get("/admin/contact/", query_string={"search": nfd}).get_data(
        as_text=True
    )
    assert "José Müller" in page


def test_record_page_shows_both_rows_of_tabs(web, signed_in, make_contact):
    contact = make_contact("Jane", "Doe", email="jane@example.com")
    page = web.get(f"/admin/contact/details/?id={contact.id}").get_data(as_text=True)
    for label in (
        "General",
        "Address",
        "Additional info",
        "Person notes",
        "Tags",
        "Linked contacts",
        "Access privileges",
        "Opportunities",
        "File box",
    ):
        assert label in page
    assert 'href="mailto:jane@example.com"' in page


def test_every_bottom_tab_opens_with_its_own_content(web, signed_in, make_contact):
    from crm.contacts import tabs

    contact = make_contact()
    for tab in tabs.BOTTOM_ROW:
        response = web.get(f"/admin/contact/details/?id={contact.id}&tab={tab.key}")
        assert response.status_code == 200, tab.key
        assert "not available yet" not in response.get_data(as_text=True), tab.key


def test_unknown_record_is_not_found(web, signed_in):
    assert web.get("/admin/contact/details/?id=999999").status_code == 404
    assert web.get("/admin/contact/details/?id=abc").status_code == 404


def test_a_plus_searches_the_country_code_not_any_digits(web, signed_in, make_contact):
    make_contact("Lucía", "Fernández", phone="+34 918-813-998")
    make_contact("Jane", "Doe", phone="+1 212 555 0134")
    make_contact("Kim", "Lee", phone="+82 2 3434 5678")
    for query in ("+34", "+34 918", "+34918813998", "+34-918"):
        page = web.get("/admin/contact/", query_string={"search": query})
        text = page.get_data(as_text=True)
        assert "Fernández" in text, query
        assert "Kim Lee" not in text and "Jane Doe" not in text, query
    # Without the plus, digits still match anywhere in a number.
    page = web.get("/admin/contact/", query_string={"search": "3434"})
    assert "Kim Lee" in page.get_data(as_text=True)
