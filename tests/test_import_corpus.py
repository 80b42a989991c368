"""Every file of the shared corpus imports, with the values the file means.

One row per file: how many contacts, and a few fields of some of them, as
the writer of the file meant them (non-ASCII text compared exactly).
"""

import csv
import io
from datetime import date

import pytest
from sqlalchemy import select

from crm.contacts.models import Contact
from crm.imports.engine import ImportOptions, open_file, run
from crm.mail import statuses
from crm.mail.models import EmailAddressStatus


def _snapshot(contact):
    billing = contact.billing_address
    return {
        "given": contact.given_name,
        "family": contact.family_name,
        "middle": contact.middle_name,
        "prefix": contact.prefix,
        "company": contact.company.name if contact.company else None,
        "title": contact.job_title,
        "emails": [e.address for e in contact.emails],
        "phones": [p.number for p in contact.phones],
        "phone_types": [p.type for p in contact.phones],
        "e164": [p.e164 for p in contact.phones],
        "faxes": [p.number for p in contact.faxes],
        "street": billing.line1 if billing else None,
        "street2": billing.line2 if billing else None,
        "city": billing.locality if billing else None,
        "postal": billing.postal_code if billing else None,
        "country": billing.country_code if billing else None,
        "addresses": sorted(a.kind for a in contact.addresses),
        "birthday": contact.birthday,
        "anniversary": contact.anniversary,
        "notes": contact.person_notes,
        "tags": sorted(link.tag.name for link in contact.tag_links),
        "nickname": contact.preferred_name,
        "website": contact.website,
        "spouse": contact.spouse_name,
        "source": contact.source_type,
    }


LICENSE_START = "THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS"

# file, options, number of contacts, {contact index: expected fields}
CASES = [
    (
        "crafted/keap-style-export.csv",
        {},
        12,
        {
            0: {
                "given": "Ümit",
                "family": "García",
                "company": "Acme Sevilla S.L.",
                "title": "Gerente",
                "emails": ["umit.garcia0@example.com"],
                "phones": ["+34 91 000 45 67"],
                "phone_types": ["Work"],
                "e164": ["+34910004567"],
                "street": "Calle Mayor 11",
                "city": "Sevilla",
                "postal": "41001",
                "country": "ESP",
                "birthday": date(1960, 5, 21),
                "notes": "Prefiere llamadas por la mañana.",
                "tags": ["Cliente", "VIP"],
                "source": "IMPORT",
            },
            1: {
                "given": "Søren",
                "city": "Köln",
                "tags": ["Lead: frío", "Partner", "Webinar 2026"],
            },
            3: {"family": "Peña", "notes": "Primera línea\nSegunda línea, con coma"},
            8: {
                "given": "Renée",
                "city": "México",
                "postal": "06000",
                "country": "MEX",
            },
            10: {"family": "Sørensen", "birthday": date(1970, 3, 3)},
        },
    ),
    (
        "salesforce-dcw/Contact.csv",
        {},
        102,
        {
            0: {
                "given": "Patricia",
                "family": "Ryan",
                "prefix": "Mrs.",
                "emails": ["patricia.ryan@example.com"],
                "phones": ["5987002803", "5121799009"],
                "phone_types": ["Work", "Home"],
                "e164": ["+15987002803", "+15121799009"],
                "street": "4228 Emily Walks",
                "city": "Anthonyton",
                "postal": "43892",
                "country": "USA",
                "birthday": date(2000, 12, 8),
            },
            1: {"given": "Ashley", "family": "Brock", "city": "East Aaron"},
        },
    ),
    (
        "roundcube/gmail.csv",
        {},
        1,
        {
            0: {
                "given": "Firstname",
                "family": "Lastname",
                "middle": "Middle",
                "prefix": "Prefix",
                "company": "company",
                "title": "jobtitle",
                "emails": ["home@aaa.pl", "work@email.pl", "unknown@email.com"],
                # The phone cells hold their column names, no digits: a phone
                # without digits is no number (the record refuses it too).
                "phones": [],
                "faxes": [],
                "street": "home_street",
                "city": "home_city",
                "country": None,
                "addresses": ["billing", "shipping"],
                "birthday": date(1975, 12, 12),
                "notes": 'note"note',
                "tags": ["My Contacts", "Test"],
                "nickname": "nick",
                "website": "https://test.com",
                "spouse": "spouse",
            }
        },
    ),
    (
        "roundcube/all.csv",
        {"date_format": "%d/%m/%Y"},
        1,
        {
            0: {
                "given": "First Name",
                "family": "Last Name",
                "company": "Company",
                "emails": ["home@example.com", "work@example.com", "other@example.com"],
                "phones": ["100", "200", "300", "400", "500"],
                "faxes": ["700", "800"],
                "addresses": ["billing", "other", "shipping"],
                "birthday": date(1991, 1, 20),
                "anniversary": date(1992, 2, 20),
                "notes": "Notes",
                "tags": ["test"],
            }
        },
    ),
    (
        "roundcube/outlook.csv",
        {},
        1,
        {
            0: {
                "given": None,
                "family": None,
                "emails": ["test1@domain.tld", "test2@domain.tld", "test3@domain.tld"],
            }
        },
    ),
    (
        "roundcube/all.vcf",
        {},
        1,
        {
            0: {
                "given": "First Name",
                "family": "Last Name",
                "emails": ["home@example.com", "work@example.com", "other@example.com"],
                "faxes": ["700", "800"],
                "birthday": date(1991, 1, 20),
                "anniversary": date(1992, 2, 20),
                "tags": ["test"],
                "spouse": "Spouse",
            }
        },
    ),
    (
        "roundcube/apple.vcf",
        {},
        1,
        {
            0: {
                "given": None,
                "family": None,
                "company": "Apple Computer AG",
                "street": "Birgistrasse 4a",
                "city": "Wallisellen-Zürich",
                "postal": "8304",
                "country": "CHE",
                "website": "http://www.apple.ch",
            }
        },
    ),
    (
        "roundcube/gmail.vcf",
        {},
        1,
        {
            0: {
                "given": "Firstname",
                "family": "Lastname",
                "birthday": date(1975, 12, 12),
                "notes": 'note"note',
                "tags": ["My Contacts", "Test"],
                "faxes": [],
            }
        },
    ),
    (
        "roundcube/johndoe.vcf",
        {},
        1,
        {
            0: {
                "given": "John",
                "family": "Doë",
                "company": "roundcube.net",
                "emails": ["roundcube@gmail.com", "inbox@roundcube.net"],
                "phones": ["+123456789", "+987654321"],
                "city": "Hometown",
                "country": "CYM",
                "notes": "The notes...",
            }
        },
    ),
    (
        "roundcube/thebat.vcf",
        {},
        1,
        {
            0: {
                "given": "Piotr",
                "family": "Iksiński",
                "emails": ["piotr.iksinski@somedomain.com"],
            }
        },
    ),
    (
        "roundcube/utf-16_sample.vcf",
        {},
        1,
        {
            0: {
                "given": "Ǽgean",
                "family": "ĽdaMonté",
                "street": "169 Mária Canal",
                "city": "LaPaz",
                "postal": "245-876",
                "country": "PER",
            }
        },
    ),
    (
        "ez-vcard/John_Doe_ANDROID.vcf",
        {},
        6,
        {
            0: {"emails": ["john.doe@company.com"], "tags": ["My Contacts"]},
            1: {"emails": ["jane.doe@company.com"]},
            2: {"family": "Ñ Ñ Ñ Ñ", "phones": ["123456789"]},
            3: {
                "family": "Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ Ñ",
                "phones": ["123456", "234567", "3456789", "45678901"],
            },
            4: {
                "given": "Ñ Ñ Ñ",
                "family": "Ñ Ñ",
                "company": "ÑÑÑÑÑÑÑÑÑÑÑÑ",
                "emails": ["bob@company.com"],
            },
            5: {"family": "ÑÑÑÑ", "company": "Ñ" * 44},
        },
    ),
    (
        "ez-vcard/John_Doe_BLACK_BERRY.vcf",
        {},
        1,
        {
            0: {
                "given": "john",
                "family": "Doe",
                "company": "Acme Solutions",
                "phones": ["+96123456789"],
                "notes": None,
            }
        },
    ),
    (
        "ez-vcard/John_Doe_EVOLUTION.vcf",
        {},
        1,
        {
            0: {
                "given": "John",
                "family": "Doe",
                "middle": "Richter, James",
                "prefix": "Mr.",
                "company": "IBM",
                "title": "Money Counter",
                "emails": ["john.doe@ibm.com"],
                "street": "15 Crescent moon drive",
                "city": "Albaney",
                "country": "USA",
                "birthday": date(1980, 3, 22),
                "anniversary": date(1980, 3, 22),
                "tags": ["VIP"],
                "spouse": "Maria",
                "nickname": "Johny",
            }
        },
    ),
    (
        "ez-vcard/John_Doe_GMAIL.vcf",
        {},
        1,
        {
            0: {
                "given": "John",
                "family": "Doe",
                "middle": "Richter, James",
                "emails": ["john.doe@ibm.com"],
                "phones": ["905-555-1234", "905-666-1234"],
                "phone_types": ["Mobile", "Home"],
                "street": "Crescent moon drive",
                "street2": "555-asd, Nice Area, Albaney, New York 12345, "
                "United States of America",
                "birthday": date(1980, 3, 22),
                "anniversary": date(1975, 3, 1),
                "website": "http://www.ibm.com",
            }
        },
    ),
    (
        "ez-vcard/John_Doe_IPHONE.vcf",
        {},
        1,
        {
            0: {
                "given": "John",
                "family": "Doe",
                "emails": ["john.doe@ibm.com"],
                "phones": [
                    "905-555-1234",
                    "905-666-1234",
                    "905-777-1234",
                    "905-111-1234",
                    "905-222-1234",
                ],
                "faxes": ["905-888-1234", "905-999-1234"],
                "street": "Silicon Alley 5",
                "city": "New York",
                "country": "USA",
                "addresses": ["billing", "shipping"],
                "birthday": date(2012, 6, 6),
            }
        },
    ),
    (
        "ez-vcard/John_Doe_LOTUS_NOTES.vcf",
        {},
        1,
        {
            0: {
                "given": "John",
                "family": "Doe",
                "company": "IBM",
                "emails": ["john.doe@ibm.com", "billy_bob@gmail.com"],
                "phones": ["+1 (212) 204-34456"],
                "faxes": ["00-1-212-555-7777"],
                "street": "25334",
                "street2": "South cresent drive, Building 5, 3rd floo r",
                "country": "USA",
                "birthday": date(1980, 5, 21),
                "nickname": "Johny,JayJay",
            }
        },
    ),
    (
        "ez-vcard/John_Doe_MAC_ADDRESS_BOOK.vcf",
        {},
        1,
        {
            0: {
                "given": "John",
                "family": "Doe",
                "middle": "Richter,James",
                "phones": [
                    "905-777-1234",
                    "905-666-1234",
                    "905-555-1234",
                    "905-111-1234",
                    "905-222-1234",
                ],
                "faxes": ["905-888-1234", "905-999-1234"],
                "street": "Silicon Alley 5,",
                "spouse": "Jenny",
            }
        },
    ),
    (
        "ez-vcard/John_Doe_MS_OUTLOOK.vcf",
        {},
        1,
        {
            0: {
                "given": "John",
                "family": "Doe",
                "emails": ["john.doe@ibm.cm"],
                "phones": ["(905) 555-1234", "(905) 666-1234"],
                "e164": ["+19055551234", "+19056661234"],
                "street": "Cresent moon drive",
                "city": "Albaney",
                "country": "USA",
                "birthday": date(1980, 3, 22),
                "anniversary": date(2011, 1, 13),
            }
        },
    ),
    (
        "ez-vcard/gmail-single2.vcf",
        {},
        1,
        {
            0: {
                "given": "VCard",
                "family": "Test",
                "company": "TheCompany",
                "emails": [
                    "email@example.com",
                    "homeemail@example.com",
                    "workemail@example.com",
                ],
                "faxes": ["5555551117", "5555551118"],
                "addresses": ["billing", "other", "shipping"],
                "birthday": date(1912, 6, 23),
                "anniversary": date(1930, 3, 20),
                "notes": "note line 1\nnote line 2\nCustomField: field value",
                "spouse": "Name2",
            }
        },
    ),
    (
        "ez-vcard/outlook-2003.vcf",
        {},
        1,
        {
            0: {
                "given": "John",
                "family": "Doe",
                "company": "Company, The",
                "title": "The Job Title",
                "emails": ["jdoe@hotmail.com"],
                "street": "123 Main St",
                "street2": "TheOffice",
                "city": "Austin",
                "country": "USA",
                "birthday": date(1980, 3, 21),
                "notes": "This is the note field!!\nSecond line\n\nThird line is empty",
            }
        },
    ),
    (
        "ez-vcard/thunderbird-MoreFunctionsForAddressBook-extension.vcf",
        {},
        1,
        {
            0: {
                "given": "John",
                "family": "Doe",
                "company": "TheOrganization",
                "emails": [
                    "doe.john@hotmail.com",
                    "additional-email@company.com",
                    "additional-email1@company.com",
                ],
                "faxes": ["555-555-3333"],
                "city": "New York",
                "birthday": date(1970, 9, 21),
                "anniversary": date(1990, 4, 30),
                "tags": ["category1", "category2", "category3"],
                "notes": "This is the notes field.\nSecond Line\n\nFourth Line\n"
                'You can put anything in the "note" field; even curse words.',
                "spouse": "TheSpouse",
            }
        },
    ),
    (
        "aosp-vcard/v21_backslash.vcf",
        {},
        1,
        {0: {"given": "A;B\\", "family": None, "middle": "C\\;", "prefix": "D"}},
    ),
    (
        "aosp-vcard/v21_complicated.vcf",
        {},
        1,
        {
            0: {
                "given": "Forrest",
                "family": "Gump",
                "company": "Gump Shrimp Co.",
                "title": "Shrimp Man",
                "emails": ["forrestgump@walladalla.com", "cell@example.com"],
                "phones": [
                    "(111) 555-1212",
                    "(404) 555-1212",
                    "0311111111",
                    "0322222222",
                    "0333333333",
                ],
                "street": "100 Waters Edge",
                "city": "Baytown",
                "country": "USA",
                "birthday": date(1980, 1, 1),
                "notes": "The following note is the example from RFC 2045.\n\n"
                "Now's the time for all folk to come to the aid of their country.",
            }
        },
    ),
    (
        "aosp-vcard/v21_japanese_1.vcf",
        {},
        1,
        {0: {"family": "安藤ロイド", "phones": ["0300000000"]}},
    ),
    (
        "aosp-vcard/v21_multiple_entry.vcf",
        {},
        3,
        {
            0: {"family": "安藤ロイド3", "phones": ["9", "10", "11"], "faxes": ["12"]},
            1: {"family": "安藤ロイド4", "phones": ["13", "14", "15", "16"]},
            2: {"family": "安藤ロイド5", "phones": ["17", "18", "19", "20"]},
        },
    ),
    (
        "aosp-vcard/v30_ios_613_multiline.vcf",
        {},
        1,
        {
            0: {
                "given": "Bob",
                "family": "Smith",
                "company": "Smith Auto Repair",
                "emails": ["bob@smithauto.com"],
                "phones": ["(650) 555-1212"],
                "e164": ["+16505551212"],
            }
        },
    ),
    (
        "aosp-vcard/v40_sort_as.vcf",
        {},
        1,
        {0: {"given": "ロイド", "family": "安藤", "company": "グーグル"}},
    ),
    (
        "kcontacts/testfullvcard.vcf",
        {},
        1,
        {
            0: {
                "given": "Sherlock",
                "family": "Holmes",
                "emails": ["detective@sherlockholmes.com", "sherlock.holmes@gmail.com"],
                "phones": ["+44-555-555-5555", "+44-555-555-6666", "+44-555-555-7777"],
                "e164": ["+445555555555", "+445555556666", "+445555557777"],
                "street": "221B Baker Street",
                "city": "London",
                "country": "GBR",
                "birthday": date(1953, 10, 15),
                "tags": ["FICTION", "LITERATURE"],
            }
        },
    ),
    (
        "kcontacts/vcard10.vcf",
        {},
        5,
        {
            0: {
                "company": "Bike Shop",
                "street": "DDDDDDDDDDDDDDD-Staße 2",
                "street2": "00000 DDDDDDDDDD",
            },
            1: {
                "given": "Broken",
                "street": "AAAAAAA-AäAAAAA 11",
                "city": "Urt",
                "website": "http://some-webseite.com",
            },
            3: {
                "given": "Surname",
                "family": "Name",
                "title": "Facharzt für Allgemeinmedizin",
                "notes": "Sprechzeiten:\nMo   8–12, 15–18\nDi     8–12\n"
                "Mi    8–12, 14–15\nDo 14–19\nFr     8–12",
            },
            4: {
                "given": "Second",
                "family": "Doctor",
                "street": "DDDDDDDDDDDstraße 26",
            },
        },
    ),
    (
        "kcontacts/vcard12.vcf",
        {},
        1,
        {
            0: {
                "given": "Good",
                "family": "Looking",
                "emails": ["goodlooking@example.com"],
            }
        },
    ),
    (
        "kcontacts/vcard5.vcf",
        {},
        1,
        {
            0: {
                "given": "Heiko",
                "family": "Mustermann",
                "company": "KDE",
                "emails": [
                    "heiko.mustermann@freenet.org",
                    "heiko8@tst.inf.tu-dresden.de",
                ],
                "phones": ["0351 223344", "0351 443322", "0173 223344"],
                "street": "Buehlauer Strasse 45",
                "city": "Dresden",
                "country": "DEU",
                "birthday": date(1955, 7, 19),
                "anniversary": date(1982, 7, 7),
                "tags": ["Friend"],
                "spouse": "femal clown",
            }
        },
    ),
    (
        "kcontacts/vcard9.vcf",
        {},
        1,
        {
            0: {
                "family": "123ㄓㄕㄖbcdeαβγδαβγδαβγδαβγδαβγδαβγδαβㄤㄓㄕㄖ",
                "notes": "Длинный комментарий на русском языке, чтобы в результате "
                "получилась строка более 70 символов.",
            }
        },
    ),
    (
        "kcontacts/vcardwithitemasapplesupport.vcf",
        {},
        1,
        {
            0: {
                "given": None,
                "family": None,
                "company": "SOME COMPANY",
                "phones": ["(111) 111-1111"],
                "street": "STREET",
                "city": "CITY",
                "country": None,
                "notes": "SOME NOTES",
            }
        },
    ),
    (
        "khard/altid.vcf",
        {},
        1,
        {0: {"given": "one", "family": "representation"}},
    ),
    (
        "khard/photov4.vcf",
        {},
        1,
        {0: {"given": "with photo", "family": "v4"}},
    ),
    (
        "khard/text-bday.vcf",
        {},
        1,
        {0: {"birthday": None, "notes": "Birthday: circa 1800"}},
    ),
    (
        "node-vcf/empty-lines.vcf",
        {},
        1,
        {
            0: {
                "given": "Erika",
                "family": "Mustermann",
                "company": "Wikimedia",
                "emails": ["erika@mustermann.de"],
                "phones": ["+49 221 9999123", "+49 221 1234567"],
                "street": "Heidestraße 17",
                "city": "Köln",
                "country": "DEU",
            }
        },
    ),
    (
        # The same person three times: created three times here; the default
        # (update) merges them, see test_import_duplicates.py.
        "node-vcf/multiple.vcf",
        {"on_duplicate": "create"},
        3,
        {
            0: {"phones": ["+49-221-9999123", "+49-221-1234567"], "city": "Köln"},
            1: {"phones": ["(0221) 9999123", "(0221) 1234567"], "city": "Koeln"},
            2: {"street": "Heidestraße 17", "website": "http://de.wikipedia.org/"},
        },
    ),
    (
        "node-vcf/vcard-2.1.vcf",
        {},
        1,
        {
            0: {
                "given": "Forrest",
                "family": "Gump",
                "company": "Bubba Gump Shrimp Co.",
                "emails": ["forrestgump@example.com"],
                "street": "100 Waters Edge",
                "addresses": ["billing", "shipping"],
            }
        },
    ),
    (
        "node-vcf/xing.vcf",
        {},
        1,
        {
            0: {
                "given": "Hans-Peter",
                "family": "Mustermann",
                "company": "Example GmbH",
                "title": "CTO",
                "city": "City Name",
                "country": None,
                "tags": ["Consulting"],
            }
        },
    ),
]


def test_the_table_covers_every_corpus_file(corpus):
    files = {
        str(p.relative_to(corpus))
        for p in corpus.rglob("*")
        if p.is_file() and p.suffix in (".csv", ".vcf")
    }
    assert files == {case[0] for case in CASES}


@pytest.mark.parametrize(
    "name, options, count, expected", CASES, ids=[case[0] for case in CASES]
)
def test_corpus_file_imports_as_the_file_means_it(
    app, db, corpus, name, options, count, expected
):
    result = run(corpus / name, options=ImportOptions(**options))
    db.session.commit()

    assert result.failed == 0, result.problems
    assert result.created == count
    contacts = list(db.session.scalars(select(Contact).order_by(Contact.id)))
    assert len(contacts) == count
    for index, fields in expected.items():
        snapshot = _snapshot(contacts[index])
        for key, value in fields.items():
            assert snapshot[key] == value, (index, key)


def _salesforce_rows(corpus, opted_out: dict[int, str]) -> bytes:
    """The first rows of the Salesforce export, HasOptedOutOfEmail set per row."""
    lines = (corpus / "salesforce-dcw/Contact.csv").read_text("utf-8-sig").splitlines()
    header = next(csv.reader([lines[0]]))
    column = header.index("HasOptedOutOfEmail")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for index, row in enumerate(csv.reader(lines[1:4])):
        row[column] = opted_out.get(index, "")
        writer.writerow(row)
    return out.getvalue().encode()


def test_salesforce_opt_out_column_is_mapped_by_default(app, corpus):
    data = (corpus / "salesforce-dcw/Contact.csv").read_bytes()
    contact_file = open_file(data, ImportOptions())

    assert contact_file.preset == "salesforce"
    column = contact_file.headers.index("HasOptedOutOfEmail")
    assert contact_file.mapping[column] == "email_opt_out"


def test_salesforce_opted_out_address_becomes_non_marketable(app, db, corpus):
    data = _salesforce_rows(corpus, {0: "true", 1: "false", 2: "maybe"})

    result = run(data, options=ImportOptions())
    db.session.commit()

    assert result.created == 3
    found = {
        row.address: row.status
        for row in db.session.scalars(select(EmailAddressStatus))
    }
    assert found.get("patricia.ryan@example.com") == statuses.ADMIN
    assert not statuses.may_receive(found["patricia.ryan@example.com"], "marketing")
    assert "ashley.brock@example.com" not in found
    [warning] = [p for p in result.problems if p.column == "HasOptedOutOfEmail"]
    assert "maybe" in warning.message


def test_salesforce_opt_out_in_a_dry_run_writes_no_status(app, db, corpus):
    data = _salesforce_rows(corpus, {0: "true"})

    result = run(data, options=ImportOptions(dry_run=True))

    assert result.created == 1 + 2
    assert db.session.scalars(select(EmailAddressStatus)).first() is None


def test_salesforce_opt_out_on_a_second_import_reaches_the_existing_contact(
    app, db, corpus
):
    run(_salesforce_rows(corpus, {}), options=ImportOptions())
    db.session.commit()

    result = run(_salesforce_rows(corpus, {1: "1"}), options=ImportOptions())
    db.session.commit()

    assert result.created == 0 and result.failed == 0
    [row] = db.session.scalars(select(EmailAddressStatus)).all()
    assert (row.address, row.status) == ("ashley.brock@example.com", statuses.ADMIN)
    assert row.changes[0].reason == "opted out in the imported file"
