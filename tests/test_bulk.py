from sqlalchemy import select

from crm.contacts.bulk import ContactData, insert_contacts
from crm.contacts.models import Contact


def test_bulk_insert_matches_the_single_contact_path(app, db, make_contact):
    single = make_contact(
        "Jane",
        "Doe",
        email=" Jane@Example.COM ",
        phone="+1 212 555 0100",
        company="Acme Inc",
        country="USA",
    )
    [bulk_id] = insert_contacts(
        [
            ContactData(
                fields={"given_name": "Jane", "family_name": "Doe"},
                company="Acme Inc",
                emails=["Jane@Example.COM"],
                phones=[{"number": "+1 212 555 0100", "type": "Work"}],
                addresses={"billing": {"country_code": "USA"}},
                tags=["VIP", "vip", "Webinar"],
            )
        ]
    )
    db.session.commit()
    bulk = db.session.get(Contact, bulk_id)
    assert bulk.search_text == single.search_text
    assert bulk.company_id == single.company_id
    assert bulk.country_code == "USA"
    assert [e.normalized for e in bulk.emails] == ["jane@example.com"]
    assert bulk.phones[0].e164 == single.phones[0].e164 == "+12125550100"
    assert sorted(link.tag.name for link in bulk.tag_links) == ["VIP", "Webinar"]


def test_bulk_insert_is_found_by_search(web, login_as, db):
    login_as("user")
    insert_contacts(
        [
            ContactData(
                fields={"given_name": "Ümit", "family_name": "García"},
                emails=["umit@example.com"],
            )
        ]
    )
    db.session.commit()
    page = web.get("/admin/contact/", query_string={"search": "garcí"}).get_data(
        as_text=True
    )
    assert "Ümit García" in page
    assert db.session.scalar(select(Contact.source_type)) == "IMPORT"
