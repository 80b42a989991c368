"""An export imports back as the contact it was: CSV and vCard, web and CLI.

A contact with every field of the record filled is exported through the
list's export URLs and through ``flask contacts export``; each file is
imported with ``flask contacts import`` into the same database emptied of
contacts, and the new contact is compared field by field with the first.
"""

import csv
import io
from datetime import date

import pytest
import vobject
from sqlalchemy import delete, select

from crm.contacts import services
from crm.contacts.export import ADDRESS_PARTS
from crm.contacts.models import (
    Contact,
    ContactAddress,
    ContactEmail,
    ContactPhone,
    SocialAccount,
)
from crm.customfields import services as custom
from crm.customfields.models import CustomField, CustomHeader, CustomTab
from crm.tags.models import ContactTag, Tag, TagCategory
from tests.test_export import export

# Columns the system keeps for itself, not fields of the record: a new
# contact has its own id, version, times, authors and source.
SYSTEM_COLUMNS = {
    "id",
    "version",
    "source_type",
    "created_at",
    "updated_at",
    "created_by_id",
    "updated_by_id",
    # Compared by what they point at (the company's name, the owner's e-mail).
    "company_id",
    "owner_id",
}
CONTACT_COLUMNS = sorted(
    c.key for c in Contact.__table__.columns if c.key not in SYSTEM_COLUMNS
)

# What an import cannot give back. The importer reads no preferred locale
# and no social accounts (CSV columns or X-SOCIALPROFILE), though both
# formats write them.
NOT_IMPORTED = {"preferred_locale", "social_accounts"}
# vCard has no place for the CRM's own fields of a contact.
NOT_IN_VCARD = {"owner", "contact_type", "lead_source", "referral_code"}
NOT_IN_VCARD |= {"billing_information"}
LOST = {"csv": NOT_IMPORTED, "vcf": NOT_IMPORTED | NOT_IN_VCARD}

# (label, type, options, value as the record's form gives it)
CUSTOM_FIELDS = [
    ("Plan", "text", None, "Pro – año 2026"),
    ("Historia", "text_area", None, "Línea uno\nLínea dos, ¡sí!"),
    ("Seats", "whole_number", None, "-42"),
    ("Ratio", "decimal", None, "-3.75"),
    ("Budget", "currency", None, "1250.50"),
    ("Discount", "percent", None, "12.5"),
    ("Customer Since", "date", None, "2024-02-29"),
    ("Last Call", "date_time", None, "2026-03-31 14:30"),
    ("VIP Member", "yes_no", None, True),
    ("Newsletter", "yes_no", None, False),
    ("Level", "dropdown", "Bronze\nSilver\nGold", "Silver"),
    ("Channel", "radio", "Email\nPhone", "Phone"),
    ("Colours", "list_box", "Red\nGreen\nBlue, dark", ["Red", "Blue, dark"]),
    ("Days", "list_box", "Mon\nTue\nWed", ["Mon", "Wed"]),
    ("Billing E-mail", "email", None, "billing@example.com"),
    ("Office Phone", "phone", None, "+34 91 000 45 67"),
    ("Shop", "website", None, "https://example.com/shop"),
    ("Account Manager", "user", None, "owner@example.com"),
    ("Founded", "year", None, "1999"),
    ("Fiscal Month", "month", None, "7"),
    ("Visit Day", "day_of_week", None, "Friday"),
    ("Sales Region", "state", None, "US-CA"),
]


@pytest.fixture
def custom_fields(db):
    tab = CustomTab(name="Extra", position=1)
    header = CustomHeader(tab=tab, name="Main")
    fields = []
    for position, (label, kind, options, _value) in enumerate(CUSTOM_FIELDS):
        name = "".join(w[:1].upper() + w[1:] for w in label.split())
        fields.append(
            CustomField(
                header=header,
                label=label,
                field_name=name,
                field_type=kind,
                options=options,
                position=position,
            )
        )
    db.session.add_all([tab, header, *fields])
    db.session.commit()
    return fields


@pytest.fixture
def owner(make_user):
    return make_user("owner@example.com", name="Olga Owner")


@pytest.fixture
def complete(db, owner, custom_fields):
    """A contact with every field of the record filled."""
    contact = Contact(
        prefix="Dr.",
        given_name="José",
        middle_name="María",
        family_name="Müller-Łukasiewicz",
        suffix="Jr.",
        preferred_name="Pepe",
        job_title="Gerente, Ventas",
        website="https://example.com/jose",
        owner=owner,
        contact_type="Customer",
        lead_source="Feria 2026",
        time_zone="Europe/Berlin",
        preferred_locale="es",
        birthday=date(1990, 3, 12),
        anniversary=date(2015, 6, 20),
        spouse_name="Ana Ñúñez",
        assistant_name="Björn Berg",
        assistant_phone="+49 221 99887",
        referral_code="JOSE2026",
        billing_information="Invoice quarterly; PO required",
        person_notes="Prefiere llamadas por la mañana.\nNunca los viernes; ¡de verdad!",
    )
    contact.company = services.get_or_create_company("Acme Köln GmbH")
    contact.emails += [
        ContactEmail(address="jose@example.com"),
        ContactEmail(address="pepe@example.org"),
        ContactEmail(address="jm.mueller@example.net"),
    ]
    contact.phones += [
        ContactPhone(number="+49 221 123456", type="Work", extension="12"),
        ContactPhone(number="+49 221 654321", type="Home", extension="3"),
        ContactPhone(number="+49 170 1234567", type="Mobile", extension="45"),
        ContactPhone(number="+49 30 1234567", type="Other", extension="678"),
        ContactPhone(number="+1 212 555 0100", type="Work", extension="9"),
    ]
    contact.faxes += [
        ContactPhone(number="+49 221 123457", type="Home"),
        ContactPhone(number="+49 221 123458", type="Other"),
    ]
    contact.billing_addresses.append(
        ContactAddress(
            line1="350 Fifth Avenue",
            line2="Suite 2100",
            locality="New York",
            region="NY",
            postal_code="10118",
            zip_four="1234",
            country_code="USA",
        )
    )
    contact.extra_addresses += [
        ContactAddress(
            kind="shipping",
            line1="Hohe Straße 1",
            line2="3. Stock",
            locality="Köln",
            region="NRW",
            postal_code="50667",
            zip_four="4321",
            country_code="DEU",
        ),
        ContactAddress(
            kind="other",
            line1="Calle Mayor 11",
            line2="Ático B",
            locality="Madrid",
            region="Madrid",
            postal_code="28013",
            zip_four="0007",
            country_code="ESP",
        ),
    ]
    contact.social_accounts += [
        SocialAccount(type="FACEBOOK", name="jose.mueller"),
        SocialAccount(type="LINKED_IN", name="in/jose-mueller"),
    ]
    status = TagCategory(name="Status")
    events = TagCategory(name="Events")
    for name, category in (("VIP", status), ("Ärzte", status), ("Feria 2026", events)):
        contact.tag_links.append(ContactTag(tag=Tag(name=name, category=category)))
    db.session.add(contact)
    services.prepare(contact, owner, is_new=True)
    db.session.flush()
    values = {
        f: value
        for f, (*_rest, value) in zip(custom_fields, CUSTOM_FIELDS, strict=True)
    }
    custom.set_values(contact, values)
    db.session.commit()
    return contact


def snapshot(db, contact_id) -> dict:
    """Every field of the record, by name, as plain values."""
    db.session.expire_all()
    contact = db.session.get(Contact, contact_id)
    fields = {key: getattr(contact, key) for key in CONTACT_COLUMNS}
    fields.update(
        company=contact.company.name if contact.company else None,
        owner=contact.owner.email if contact.owner else None,
        emails=[(e.slot, e.address) for e in contact.emails],
        phones=[
            (p.kind, p.slot, p.number, p.extension, p.type, p.e164)
            for p in [*contact.phones, *contact.faxes]
        ],
        addresses={
            a.kind: {part: getattr(a, part) for part in ADDRESS_PARTS}
            for a in contact.addresses
        },
        social_accounts=sorted((s.type, s.name) for s in contact.social_accounts),
        tags=sorted(
            (link.tag.name, link.tag.category.name if link.tag.category else None)
            for link in contact.tag_links
        ),
        custom={value.field.label: value.value for value in contact.custom_values},
    )
    return fields


def _exported(how, export_type, web, runner, tmp_path) -> bytes:
    if how == "web":
        response = export(web, export_type)
        assert response.status_code == 200
        return response.get_data()
    target = tmp_path / f"cli.{export_type}"
    result = runner.invoke(
        args=["contacts", "export", "--format", export_type, "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    return target.read_bytes()


def _import(db, runner, tmp_path, data: bytes, export_type: str):
    """Import the file with the real importer into a database without contacts."""
    db.session.execute(delete(Contact))
    db.session.commit()
    path = tmp_path / f"back.{export_type}"
    path.write_bytes(data)
    result = runner.invoke(args=["contacts", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == (
        "created 1, updated 0, skipped 0, failed 0"
    ), result.output
    (contact_id,) = db.session.scalars(select(Contact.id)).all()
    return contact_id, result.stdout


@pytest.mark.parametrize("how", ["web", "cli"])
@pytest.mark.parametrize("export_type", ["csv", "vcf"])
def test_an_export_imports_back_as_the_same_contact(
    db, web, runner, login_as, complete, tmp_path, how, export_type
):
    login_as("user")
    before = snapshot(db, complete.id)
    # Every field is filled, so a field the export leaves out shows below.
    assert all(before[key] for key in CONTACT_COLUMNS), [
        key for key in CONTACT_COLUMNS if not before[key]
    ]
    assert len(before["custom"]) == len(CUSTOM_FIELDS)

    data = _exported(how, export_type, web, runner, tmp_path)
    contact_id, output = _import(db, runner, tmp_path, data, export_type)
    after = snapshot(db, contact_id)

    assert "row " not in output, output  # no problem with any value
    differing = {key for key in before if before[key] != after[key]}
    assert differing == LOST[export_type], {
        key: (before[key], after[key]) for key in differing
    }
    assert not any(after[key] for key in LOST[export_type])


def test_the_csv_names_each_column_the_importer_does_not_read(
    db, runner, complete, tmp_path
):
    data = _exported("cli", "csv", None, runner, tmp_path)
    _contact_id, output = _import(db, runner, tmp_path, data, "csv")

    assert "preset keap" in output
    (unmapped,) = [x for x in output.splitlines() if x.startswith("Columns not")]
    assert unmapped == (
        "Columns not imported: Id, Preferred Locale, Facebook, LinkedIn, "
        "Twitter, Instagram, Snapchat, YouTube, Pinterest, Date Created"
    )


def test_the_csv_writes_custom_values_as_the_importer_reads_them(
    web, login_as, complete
):
    login_as("user")
    body = export(web, "csv").get_data().decode("utf-8-sig")
    (record,) = csv.DictReader(io.StringIO(body, newline=""))

    assert record["Plan"] == "Pro – año 2026"
    assert record["Historia"] == "Línea uno\nLínea dos, ¡sí!"
    assert record["Seats"] == "'-42"
    assert record["Ratio"] == "'-3.75"
    assert record["Budget"] == "1250.50"
    assert record["Customer Since"] == "2024-02-29"
    assert record["Last Call"] == "2026-03-31T14:30:00Z"
    assert (record["VIP Member"], record["Newsletter"]) == ("Yes", "No")
    assert record["Days"] == "Mon, Wed"
    # An option holding a comma: the list is written whole, as JSON.
    assert record["Colours"] == '["Red", "Blue, dark"]'
    assert record["Account Manager"] == "owner@example.com"
    assert record["Sales Region"] == "US-CA"
    assert record["Anniversary"] == "2015-06-20"
    assert record["Address 3 Street 2"] == "Ático B"
    assert record["Facebook"] == "jose.mueller"
    assert record["Person Notes"].endswith("\nNunca los viernes; ¡de verdad!")


def test_the_vcard_carries_dates_people_zone_and_custom_fields(web, login_as, complete):
    login_as("user")
    text = export(web, "vcf").get_data(as_text=True)
    (card,) = vobject.readComponents(text)

    assert card.contents["x-anniversary"][0].value == "2015-06-20"
    assert card.contents["x-spouse"][0].value == "Ana Ñúñez"
    assert card.contents["x-assistant"][0].value == "Björn Berg"
    assert card.contents["x-assistant-tel"][0].value == "+49 221 99887"
    assert card.tz.value == "Europe/Berlin"
    assert card.note.value.endswith("\nNunca los viernes; ¡de verdad!")
    profiles = [(p.params["TYPE"], p.value) for p in card.contents["x-socialprofile"]]
    assert profiles == [
        (["facebook"], "jose.mueller"),
        (["linkedin"], "in/jose-mueller"),
    ]
    adrs = [(a.group, a.params.get("TYPE"), a.value.code) for a in card.contents["adr"]]
    assert adrs == [
        (None, ["WORK", "PREF"], "10118-1234"),
        (None, ["PARCEL"], "50667-4321"),
        ("item1", None, "28013-0007"),
    ]
    assert card.contents["x-ablabel"][0].value == "_$!<Other>!$_"
    fields = {
        p.params["LABEL"][0]: (p.params["NAME"][0], p.value)
        for p in card.contents["x-crm-field"]
    }
    assert fields["Historia"] == ("Historia", "Línea uno\nLínea dos, ¡sí!")
    assert fields["VIP Member"] == ("VIPMember", "Yes")
    assert fields["Colours"] == ("Colours", '["Red", "Blue, dark"]')
    # Valid 3.0: CRLF line ends, content lines folded at 75 octets.
    lines = text.encode("utf-8").split(b"\r\n")
    assert max(len(line) for line in lines) <= 75
    assert b"\n" not in b"".join(lines)


def test_a_vcard_field_of_no_custom_field_is_left_out_with_one_warning(
    db, runner, tmp_path
):
    card = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\n"
        "X-CRM-FIELD;LABEL=Nowhere;NAME=Nowhere:x\r\nEND:VCARD\r\n"
    )
    path = tmp_path / "two.vcf"
    path.write_text(card + card.replace("Jane", "John"), encoding="utf-8")

    result = runner.invoke(args=["contacts", "import", str(path)])

    assert result.exit_code == 0, result.output
    problems = [x for x in result.stdout.splitlines() if x.startswith("row ")]
    assert problems == [
        "row 1, column X-CRM-FIELD: There is no custom field Nowhere, so the "
        "file's values for it were left out."
    ]
    assert result.stdout.strip().splitlines()[-1].startswith("created 2,")


def one_custom_value(db, make_contact, label, field_name, value):
    """A contact whose only custom field (a text field) holds ``value``."""
    tab = CustomTab(name="Extra")
    header = CustomHeader(tab=tab, name="Main")
    text_field = CustomField(header=header, label=label, field_name=field_name)
    db.session.add_all([tab, header, text_field])
    db.session.commit()
    contact = make_contact("Jane", "Doe", email="jane@example.com")
    custom.set_values(contact, {text_field: value})
    db.session.commit()
    return contact


def test_a_label_the_importer_would_map_elsewhere_is_headed_by_the_field_name(
    db, web, runner, login_as, make_contact, tmp_path
):
    one_custom_value(db, make_contact, "Email 2", "Email2", "not an address")
    login_as("user")

    data = export(web, "csv").get_data()
    header_row = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert header_row[-1] == "Email2"
    contact_id, _output = _import(db, runner, tmp_path, data, "csv")
    assert snapshot(db, contact_id)["custom"] == {"Email 2": "not an address"}


@pytest.mark.parametrize(
    "label, value",
    [
        ("=SUM(A1:A9)", '=HYPERLINK("http://evil.test","x")'),
        ("+Total", "@cmd"),
        ("-Score", "-1+1"),
        ("@Where", "+34 91 000 45 67"),
    ],
)
def test_custom_field_labels_and_values_are_neutralised_in_the_csv(
    db, web, runner, login_as, make_contact, tmp_path, label, value
):
    one_custom_value(db, make_contact, label, "Dangerous", value)
    login_as("user")

    data = export(web, "csv").get_data()
    header_row, row = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert header_row[-1] == "'" + label
    assert row[-1] == "'" + value
    # The importer takes the apostrophe off again.
    contact_id, _output = _import(db, runner, tmp_path, data, "csv")
    assert snapshot(db, contact_id)["custom"] == {label: value}


@pytest.mark.parametrize("kinds", [["shipping"], ["other"], ["billing", "other"]])
def test_a_vcard_gives_each_address_back_its_kind(
    db, runner, make_contact, tmp_path, kinds
):
    contact = make_contact("Jane", "Doe", email="jane@example.com")
    for kind in kinds:
        address = ContactAddress(
            kind=kind, line1=f"{kind} street 1", locality="Boston", postal_code="02101"
        )
        if kind == "billing":
            contact.billing_addresses.append(address)
        else:
            contact.extra_addresses.append(address)
    db.session.commit()
    before = snapshot(db, contact.id)["addresses"]

    data = _exported("cli", "vcf", None, runner, tmp_path)
    contact_id, _output = _import(db, runner, tmp_path, data, "vcf")

    assert sorted(before) == sorted(kinds)
    assert snapshot(db, contact_id)["addresses"] == before
