import csv
import io
import re
from datetime import date

import pytest
import vobject
from sqlalchemy import update

from crm.contacts.models import Contact, ContactAddress, ContactEmail, ContactPhone
from crm.core.csvsafe import neutralise
from crm.tags.models import ContactTag, Tag
from tests.access_helpers import own_only, quick_user

ROW_LINK = re.compile(r'href="/admin/contact/details/\?id=(\d+)"')


def export(web, export_type, **args):
    # buffered: the streamed body is read inside the request's own context.
    return web.get(
        f"/admin/contact/export/{export_type}/", query_string=args, buffered=True
    )


def csv_rows(response):
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf"), "the CSV starts with a UTF-8 BOM"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def csv_records(response):
    header, *rows = csv_rows(response)
    return [dict(zip(header, row, strict=True)) for row in rows]


def cards(response):
    return list(vobject.readComponents(response.get_data(as_text=True)))


def list_ids(web, **args):
    page = web.get("/admin/contact/", query_string=args).get_data(as_text=True)
    return ROW_LINK.findall(page)


@pytest.fixture
def signed_in(login_as):
    return login_as("user")


def own_only_user(db, email, **permissions):
    """A user who sees only own and shared contacts."""
    return own_only(db, quick_user(db, email), **permissions)


@pytest.fixture
def full_contact(db, make_user):
    from crm.contacts import services

    owner = make_user("owner@example.com", name="Olga Owner")
    contact = Contact(
        prefix="Dr.",
        given_name="José",
        middle_name="María",
        family_name="Müller-Łukasiewicz",
        preferred_name="Pepe",
        job_title="Gerente, Ventas",
        website="https://example.com/jose",
        contact_type="Customer",
        lead_source="Feria 2026",
        birthday=date(1990, 3, 12),
        person_notes="Prefers calls.\nNever on Fridays; really.",
        owner=owner,
    )
    contact.company = services.get_or_create_company("Acme Köln GmbH")
    contact.emails += [
        ContactEmail(address="jose@example.com"),
        ContactEmail(address="pepe@example.org"),
    ]
    contact.phones += [
        ContactPhone(number="+49 221 123456", type="Work", extension="12"),
        ContactPhone(number="+49 170 1234567", type="Mobile"),
    ]
    contact.faxes.append(ContactPhone(number="+49 221 123457", type="Work"))
    contact.billing_addresses.append(
        ContactAddress(
            line1="Hohe Straße 1",
            line2="3. Stock",
            locality="Köln",
            region="NRW",
            postal_code="50667",
            country_code="DEU",
        )
    )
    for name in ("VIP", "Ärzte"):
        contact.tag_links.append(ContactTag(tag=Tag(name=name)))
    db.session.add(contact)
    services.prepare(contact, owner, is_new=True)
    db.session.commit()
    return contact


def test_csv_export_holds_the_contact_fields(web, signed_in, full_contact):
    response = export(web, "csv")

    assert response.status_code == 200
    assert response.content_type == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="contacts-\d{4}-\d{2}-\d{2}\.csv"',
        response.headers["Content-Disposition"],
    )
    (record,) = csv_records(response)
    assert record["Id"] == str(full_contact.id)
    assert record["Title"] == "Dr."
    assert record["First Name"] == "José"
    assert record["Middle Name"] == "María"
    assert record["Last Name"] == "Müller-Łukasiewicz"
    assert record["Nickname"] == "Pepe"
    assert record["Company"] == "Acme Köln GmbH"
    assert record["Job Title"] == "Gerente, Ventas"
    assert record["Email"] == "jose@example.com"
    assert record["Email 2"] == "pepe@example.org"
    assert record["Email 3"] == ""
    # Phones start with "+", which a spreadsheet would read as a formula.
    assert record["Phone 1"] == "'+49 221 123456"
    assert record["Phone 1 Type"] == "Work"
    assert record["Phone 1 Ext"] == "12"
    assert record["Phone 2"] == "'+49 170 1234567"
    assert record["Phone 2 Type"] == "Mobile"
    assert record["Fax 1"] == "'+49 221 123457"
    assert record["Street Address 1"] == "Hohe Straße 1"
    assert record["Street Address 2"] == "3. Stock"
    assert record["City"] == "Köln"
    assert record["State"] == "NRW"
    assert record["Postal Code"] == "50667"
    assert record["Country"] == "DEU"
    assert record["Website"] == "https://example.com/jose"
    assert record["Birthday"] == "1990-03-12"
    assert record["Tags"] == "Ärzte,VIP"
    assert record["Owner"] == "owner@example.com"
    assert record["Contact Type"] == "Customer"
    assert record["Lead Source"] == "Feria 2026"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", record["Date Created"])


@pytest.fixture
def several(make_contact):
    """Five contacts that differ in country, type and company, and a tag."""
    vip = Tag(name="VIP")
    people = [
        make_contact(
            "Ana",
            "Zapata",
            email="ana@acme.test",
            country="ESP",
            company="Acme",
            contact_type="Customer",
        ),
        make_contact(
            "Bernd",
            "Yilmaz",
            email="bernd@other.test",
            country="DEU",
            contact_type="Lead",
        ),
        make_contact(
            "Chloé",
            "Xu",
            email="chloe@acme.test",
            country="DEU",
            company="Acme",
            contact_type="Customer",
        ),
        make_contact(
            "Dmitri",
            "Weber",
            email="dmitri@other.test",
            country="FRA",
            contact_type="Customer",
        ),
        make_contact(
            "Eva",
            "Vargas",
            email="eva@other.test",
            country="DEU",
            contact_type="Partner",
        ),
    ]
    return people, vip


def _tag(db, contacts, tag):
    for contact in contacts:
        contact.tag_links.append(ContactTag(tag=tag))
    db.session.commit()
    return str(tag.id)


@pytest.mark.parametrize(
    "args, expected",
    [
        ({}, ["Vargas", "Weber", "Xu", "Yilmaz", "Zapata"]),
        ({"search": "acme"}, ["Xu", "Zapata"]),
        ({"flt0_country_is": "DEU"}, ["Vargas", "Xu", "Yilmaz"]),
        ({"flt0_country_is": "DEU", "flt1_contact_type_is": "Customer"}, ["Xu"]),
        ({"flt0_tags_any_of": "{vip}"}, ["Vargas", "Xu", "Yilmaz"]),
        ({"flt0_tags_any_of": "{vip}", "search": "other"}, ["Vargas", "Yilmaz"]),
        ({"sort": "2"}, ["Zapata", "Yilmaz", "Xu", "Weber", "Vargas"]),
        (
            {"sort": "0", "desc": "1", "flt0_contact_type_is": "Customer"},
            ["Zapata", "Xu", "Weber"],
        ),
        ({"search": "nobody-has-this"}, []),
    ],
)
def test_export_holds_exactly_the_rows_the_list_shows(
    db, web, signed_in, several, args, expected
):
    people, vip = several
    vip_id = _tag(db, [people[1], people[2], people[4]], vip)
    args = {k: v.replace("{vip}", vip_id) for k, v in args.items()}

    shown = list_ids(web, **args)
    records = csv_records(export(web, "csv", **args))
    carded = [c.n.value.family for c in cards(export(web, "vcf", **args))]

    assert [r["Id"] for r in records] == shown
    assert [r["Last Name"] for r in records] == expected
    assert carded == expected


def test_filters_narrow_the_export(db, web, signed_in, several):
    records = csv_records(export(web, "csv", flt0_country_is="DEU", search="acme"))
    assert [r["Last Name"] for r in records] == ["Xu"]


def test_export_holds_every_page_of_the_list(db, web, signed_in):
    from crm.contacts.bulk import ContactData, insert_contacts

    insert_contacts(
        [
            ContactData(fields={"given_name": "P", "family_name": f"N{i:03}"})
            for i in range(60)
        ]
    )
    db.session.commit()

    assert len(list_ids(web)) == 50
    assert len(csv_records(export(web, "csv"))) == 60
    assert len(cards(export(web, "vcf"))) == 60


def test_export_holds_only_what_the_user_may_see(db, web, make_contact):
    from crm.access.models import ContactShare

    # A3: U1 sees own and shared contacts only; the export holds those rows.
    u1 = own_only_user(db, "u1@example.com")
    u2 = quick_user(db, "u2@example.com")
    web.login(u1.email)
    mine = make_contact("Mine", "Own", email="mine@example.com", owner=u1)
    make_contact("Jane", "Doe", email="jane@example.com", owner=u2)
    shared = make_contact("Sam", "Shared", email="sam@example.com", owner=u2)
    db.session.add(ContactShare(contact_id=shared.id, user_id=u1.id, level="view"))
    db.session.commit()

    for args in ({}, {"search": "jane"}, {"search": "example.com"}):
        shown = list_ids(web, **args)
        assert [r["Id"] for r in csv_records(export(web, "csv", **args))] == shown
        body = export(web, "vcf", **args).get_data(as_text=True)
        assert "jane@example.com" not in body
    assert list_ids(web) == [str(shared.id), str(mine.id)]


@pytest.mark.parametrize("narrowed", ["search", "tag"])
def test_a_restricted_export_of_a_counted_list_stops_at_the_row_limit_with_a_note(
    app, db, web, make_contact, narrowed
):
    # The list's count reads all three of the user's matches, which a list
    # page is read from; the export is still the whole list up to its
    # limit, and says that it stopped there.
    app.config["EXPORT_MAX_ROWS"] = 2
    user = own_only_user(db, "own@example.com")
    tag = Tag(name="VIP")
    made = []
    for family in ("A", "B", "C", "Hidden"):
        contact = make_contact(
            "Counted", family, owner=None if family == "Hidden" else user
        )
        contact.tag_links.append(ContactTag(tag=tag))
        made.append(contact)
    db.session.commit()
    if narrowed == "search":
        args = {"search": "counted"}
    else:
        args = {"flt0_tags_any_of": str(tag.id)}

    web.login(user.email)
    header, *rows = csv_rows(export(web, "csv", **args))
    assert [row[0] for row in rows[:2]] == [str(made[2].id), str(made[1].id)]
    assert len(rows) == 3
    assert rows[2][0].startswith("Only the first 2 contacts were exported")


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_that_could_start_a_formula_are_neutralised(
    db, web, signed_in, make_contact, start
):
    value = f'{start}HYPERLINK("http://evil.test","x")'
    contact = make_contact("Plain", "Name")
    db.session.execute(
        update(Contact)
        .where(Contact.id == contact.id)
        .values(given_name=value, job_title=f"{start}cmd|' /C calc'!A0")
    )
    db.session.commit()

    (record,) = csv_records(export(web, "csv"))
    assert record["First Name"] == "'" + value
    assert record["Job Title"] == f"'{start}cmd|' /C calc'!A0"
    assert record["Last Name"] == "Name"


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=1+1", "'=1+1"),
        ("+1 555 0100", "'+1 555 0100"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        (" =x", " =x"),
        ("", ""),
        (None, ""),
        (42, "42"),
    ],
)
def test_neutralise_prefixes_only_formula_starts(value, cell):
    assert neutralise(value) == cell


def test_export_is_refused_without_export_permission(db, web, make_contact):
    user = own_only_user(db, "no-export@example.com", can_export=False)
    web.login(user.email)
    make_contact("Jane", "Doe", email="jane@example.com", owner=user)

    for export_type in ("csv", "vcf"):
        response = export(web, export_type)
        assert response.status_code == 403
        assert b"jane@example.com" not in response.get_data()
    page = web.get("/admin/contact/").get_data(as_text=True)
    assert "Jane Doe" in page
    assert "/admin/contact/export/" not in page


def test_export_needs_a_signed_in_user(web, make_contact):
    make_contact("Jane", "Doe", email="jane@example.com")
    response = export(web, "csv")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_unknown_export_type_is_not_found(web, signed_in):
    assert export(web, "xlsx").status_code == 404


def test_list_offers_both_export_formats(web, signed_in, make_contact):
    make_contact()
    page = web.get("/admin/contact/?search=doe").get_data(as_text=True)
    assert 'href="/admin/contact/export/csv/?search=doe"' in page
    assert 'href="/admin/contact/export/vcf/?search=doe"' in page


def test_export_stops_at_the_row_limit_with_a_note(
    app, db, web, signed_in, make_contact
):
    app.config["EXPORT_MAX_ROWS"] = 2
    for family in ("A", "B", "C"):
        make_contact("P", family)

    header, *rows = csv_rows(export(web, "csv"))
    assert len(rows) == 3
    assert all(len(row) == len(header) for row in rows[:2])
    assert rows[2][0].startswith("Only the first 2 contacts were exported")
    assert len(cards(export(web, "vcf"))) == 2
    # The download cannot show a message, so the next page does.
    assert "Only the first 2 contacts" in web.get("/admin/contact/").get_data(
        as_text=True
    )


def test_export_under_the_limit_has_no_note(app, web, signed_in, make_contact):
    app.config["EXPORT_MAX_ROWS"] = 2
    make_contact("P", "A")
    make_contact("P", "B")
    _header, *rows = csv_rows(export(web, "csv"))
    assert len(rows) == 2
    assert "Only the first" not in web.get("/admin/contact/").get_data(as_text=True)


def test_vcard_export_round_trips_through_vobject(web, signed_in, full_contact):
    response = export(web, "vcf")

    assert response.status_code == 200
    assert response.content_type == "text/vcard; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="contacts-\d{4}-\d{2}-\d{2}\.vcf"',
        response.headers["Content-Disposition"],
    )
    (card,) = cards(response)
    assert card.version.value == "3.0"
    assert card.n.value.family == "Müller-Łukasiewicz"
    assert card.n.value.given == "José"
    assert card.n.value.additional == "María"
    assert card.n.value.prefix == "Dr."
    assert card.fn.value == "José María Müller-Łukasiewicz"
    assert card.nickname.value == "Pepe"
    assert card.org.value == ["Acme Köln GmbH"]
    assert card.title.value == "Gerente, Ventas"
    emails = [(e.value, e.params["TYPE"]) for e in card.contents["email"]]
    assert emails == [
        ("jose@example.com", ["INTERNET", "PREF"]),
        ("pepe@example.org", ["INTERNET"]),
    ]
    tels = [(t.value, t.params["TYPE"]) for t in card.contents["tel"]]
    assert tels == [
        ("+49 221 123456 x12", ["WORK"]),
        ("+49 170 1234567", ["CELL"]),
        ("+49 221 123457", ["WORK", "FAX"]),
    ]
    adr = card.adr.value
    assert (adr.street, adr.city, adr.region, adr.code, adr.country) == (
        "Hohe Straße 1\n3. Stock",
        "Köln",
        "NRW",
        "50667",
        "Germany",
    )
    assert card.bday.value == "1990-03-12"
    assert card.url.value == "https://example.com/jose"
    assert card.note.value == "Prefers calls.\nNever on Fridays; really."
    assert card.categories.value == ["Ärzte", "VIP"]


def test_vcard_keeps_cards_apart_when_values_hold_line_breaks(
    db, web, signed_in, make_contact
):
    first = make_contact("Ann", "One", email="ann@example.com")
    make_contact("Bob", "Two", email="bob@example.com")
    db.session.execute(
        update(Contact)
        .where(Contact.id == first.id)
        .values(job_title="Boss\r\nEND:VCARD\rBEGIN:VCARD", person_notes="a\x1bb\x07c")
    )
    db.session.commit()

    parsed = cards(export(web, "vcf"))
    assert sorted(c.fn.value for c in parsed) == ["Ann One", "Bob Two"]
    ann = next(c for c in parsed if c.fn.value == "Ann One")
    assert ann.title.value == "Boss\nEND:VCARD\nBEGIN:VCARD"
    assert ann.note.value == "abc"


def test_vcard_of_a_contact_without_name_uses_the_company(
    db, web, signed_in, make_contact
):
    make_contact(None, None, company="Nameless Ltd")
    (card,) = cards(export(web, "vcf"))
    assert card.fn.value == "Nameless Ltd"
    assert card.org.value == ["Nameless Ltd"]


# flask contacts export -------------------------------------------------------


def test_cli_exports_every_contact_as_csv_to_stdout(runner, make_contact):
    make_contact("Jane", "Doe", email="jane@example.com")
    make_contact("=John", "Roe", email="john@example.com")

    result = runner.invoke(args=["contacts", "export", "--format", "csv"])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("\ufeffId,")
    rows = list(csv.DictReader(io.StringIO(result.stdout.lstrip("\ufeff"))))
    assert [r["Email"] for r in rows] == ["jane@example.com", "john@example.com"]
    assert rows[1]["First Name"] == "'=John"
    assert result.stderr.strip() == "exported 2 contacts"


def test_cli_writes_a_vcard_file(runner, make_contact, tmp_path):
    make_contact("Zoë", "Ñúñez", email="zoe@example.com")
    target = tmp_path / "out.vcf"

    result = runner.invoke(
        args=["contacts", "export", "--format", "vcf", "-o", str(target)]
    )

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    (card,) = vobject.readComponents(target.read_text(encoding="utf-8"))
    assert card.fn.value == "Zoë Ñúñez"
    assert card.email.value == "zoe@example.com"
    assert "exported 1 contacts" in result.stderr


def test_cli_user_option_exports_what_that_user_may_see(db, runner, make_contact):
    u1 = own_only_user(db, "u1@example.com")
    u2 = quick_user(db, "u2@example.com")
    make_contact("Mine", "Own", email="mine@example.com", owner=u1)
    make_contact("Jane", "Doe", email="jane@example.com", owner=u2)

    scoped = runner.invoke(
        args=["contacts", "export", "--format", "csv", "--user", "U1@example.com"]
    )
    everything = runner.invoke(args=["contacts", "export", "--format", "csv"])

    assert scoped.exit_code == 0, scoped.output
    assert "mine@example.com" in scoped.stdout
    assert "jane@example.com" not in scoped.stdout
    assert "exported 1 contacts" in scoped.stderr
    assert "exported 2 contacts" in everything.stderr


def test_cli_unknown_user_is_a_clear_error(runner, make_contact):
    make_contact()
    result = runner.invoke(
        args=["contacts", "export", "--format", "csv", "--user", "nobody@example.com"]
    )
    assert result.exit_code != 0
    assert "No user has the e-mail nobody@example.com." in result.stderr
    assert result.stdout == ""


def test_cli_refuses_an_unknown_format(runner):
    result = runner.invoke(args=["contacts", "export", "--format", "xlsx"])
    assert result.exit_code == 2
    assert "xlsx" in result.stderr


def test_cli_reports_an_unwritable_file(runner, make_contact, tmp_path):
    make_contact()
    target = tmp_path / "missing-dir" / "out.csv"
    result = runner.invoke(
        args=["contacts", "export", "--format", "csv", "-o", str(target)]
    )
    assert result.exit_code == 1
    assert "Cannot write" in result.stderr
    assert "Traceback" not in result.output
