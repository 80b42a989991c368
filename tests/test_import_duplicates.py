"""Duplicates by e-mail: update fills blanks, skip leaves, create adds anyway."""

from datetime import date

import pytest
from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.imports.engine import ImportOptions, run
from crm.tags.models import Tag


def _import(db, data, actor=None, **options):
    result = run(data, actor=actor, owner=actor, options=ImportOptions(**options))
    db.session.commit()
    db.session.expire_all()
    return result


def _count(db):
    return db.session.scalar(select(func.count()).select_from(Contact))


ROW = (
    b"email,first_name,last_name,job title,phone,city,tags,birthday\n"
    b"JANE@example.com,Janet,,,+1 212 555 0199,Bonn,VIP,1980-02-03\n"
)


@pytest.fixture
def jane(make_contact):
    return make_contact(
        "Jane", "Doe", email="jane@example.com", phone="+1 212 555 0100",
        job_title="CEO",
    )  # fmt: skip


def test_update_fills_blanks_and_never_clears_or_overwrites(app, db, jane):
    version = jane.version

    result = _import(db, ROW, on_duplicate="update")

    assert result.summary() == "created 0, updated 1, skipped 0, failed 0"
    contact = db.session.get(Contact, jane.id)
    assert (contact.given_name, contact.family_name) == ("Jane", "Doe")
    assert contact.job_title == "CEO"
    assert [p.number for p in contact.phones] == ["+1 212 555 0100", "+1 212 555 0199"]
    assert contact.billing_address.locality == "Bonn"
    assert contact.birthday == date(1980, 2, 3)
    assert [link.tag.name for link in contact.tag_links] == ["VIP"]
    assert contact.version == version + 1
    assert "12125550199" in contact.search_text


def test_update_with_nothing_new_leaves_the_contact_and_counts_a_skip(app, db, jane):
    data = b"email,first_name\njane@example.com,\n"

    result = _import(db, data, on_duplicate="update")

    assert result.summary() == "created 0, updated 0, skipped 1, failed 0"
    assert db.session.get(Contact, jane.id).version == jane.version


def test_skip_leaves_the_existing_contact(app, db, jane):
    result = _import(db, ROW, on_duplicate="skip")

    assert result.summary() == "created 0, updated 0, skipped 1, failed 0"
    contact = db.session.get(Contact, jane.id)
    assert contact.billing_address is None
    assert len(contact.phones) == 1


def test_create_adds_a_second_contact_with_the_same_address(app, db, jane):
    result = _import(db, ROW, on_duplicate="create")

    assert result.summary() == "created 1, updated 0, skipped 0, failed 0"
    assert _count(db) == 2


@pytest.mark.parametrize(
    "mode, summary, contacts",
    [
        ("update", "created 1, updated 1, skipped 0, failed 0", 1),
        ("skip", "created 1, updated 0, skipped 1, failed 0", 1),
        ("create", "created 2, updated 0, skipped 0, failed 0", 2),
    ],
)
@pytest.mark.parametrize("batch_size", [1, 100], ids=["batches-of-1", "one-batch"])
def test_duplicates_within_the_file(app, db, mode, summary, contacts, batch_size):
    data = (
        b"email,first_name,city\nann@example.com,Ann,\n ANN@Example.com ,Annie,Graz\n"
    )

    result = _import(db, data, on_duplicate=mode, batch_size=batch_size)

    assert result.summary() == summary
    assert _count(db) == contacts
    first = db.session.scalars(select(Contact).order_by(Contact.id)).first()
    assert first.given_name == "Ann"
    if mode == "update":
        assert first.billing_address.locality == "Graz"


def test_the_three_versions_of_one_card_become_one_contact(app, db, corpus):
    result = _import(db, corpus / "node-vcf" / "multiple.vcf")

    # The 2.1 card adds nothing the 4.0 card lacks; the 3.0 card adds the URL.
    assert result.summary() == "created 1, updated 1, skipped 1, failed 0"
    [erika] = db.session.scalars(select(Contact))
    assert erika.website == "http://de.wikipedia.org/"
    assert [p.number for p in erika.phones] == ["+49-221-9999123", "+49-221-1234567"]
    assert erika.billing_address.locality == "Köln"


def test_dry_run_counts_what_the_real_run_does_and_writes_nothing(app, db, jane):
    data = ROW + b"new@example.com,New,Person,,,,,\n" + b"new@example.com,Again,,,,,,\n"

    dry = _import(db, data, on_duplicate="update", dry_run=True)

    assert dry.summary() == "created 1, updated 1, skipped 1, failed 0"
    assert _count(db) == 1
    assert db.session.get(Contact, jane.id).billing_address is None
    assert db.session.scalar(select(func.count()).select_from(Tag)) == 0
    assert _import(db, data, on_duplicate="update").summary() == dry.summary()


def test_duplicate_check_sees_only_what_the_actor_may_see(app, db, make_user):
    from crm.access.services import set_user_permissions

    owner = make_user("owner@example.com")
    actor = make_user("actor@example.com")
    set_user_permissions(
        actor, {"contacts": {"view_scope": "own", "edit_scope": "own"}}
    )
    db.session.commit()
    hidden = Contact(given_name="Hidden", owner_id=owner.id)
    from crm.contacts.models import ContactEmail
    from crm.contacts.services import prepare

    hidden.emails.append(ContactEmail(address="jane@example.com"))
    db.session.add(hidden)
    prepare(hidden, is_new=True)
    db.session.commit()

    result = _import(db, ROW, actor=actor, on_duplicate="update")

    assert result.summary() == "created 1, updated 0, skipped 0, failed 0"
    hidden = db.session.get(Contact, hidden.id)
    assert hidden.given_name == "Hidden" and hidden.billing_address is None
    mine = db.session.scalar(select(Contact).where(Contact.owner_id == actor.id))
    assert mine.given_name == "Janet"


def test_update_that_breaks_a_rule_fails_the_row_and_changes_nothing(app, db):
    from crm.contacts.bulk import ContactData, insert_contacts

    # A phone a spreadsheet damaged, stored before the checks existed.
    [old_id] = insert_contacts(
        [
            ContactData(
                fields={"given_name": "Old"},
                emails=["old@example.com"],
                phones=[{"number": "4.91E+11"}],
            )
        ]
    )
    db.session.commit()
    data = b"email,city,first_name\nold@example.com,Bonn,\nnew@example.com,,New\n"

    result = _import(db, data, on_duplicate="update")

    assert result.summary() == "created 1, updated 0, skipped 0, failed 1"
    assert result.problems[0].row == 2
    assert "damaged by a spreadsheet" in result.problems[0].message
    old = db.session.get(Contact, old_id)
    assert old.billing_address is None


COMPANY_ROWS = (
    b"email,first_name,company\n"
    b"ann@example.com,,Newco\n"
    b"bob@example.com,,Newco\n"
    b"cy@example.com,,Other\n"
    b"dee@example.com,,Existing\n"
)


def _companies(db):
    from crm.contacts.models import Company

    return sorted(db.session.scalars(select(Company.name)))


def _company_of(db, contact):
    contact = db.session.get(Contact, contact.id)
    return contact.company.name if contact.company else None


@pytest.mark.parametrize("bad_row", [False, True], ids=["together", "one by one"])
def test_update_gives_blank_companies_one_company_per_name(
    app, db, make_contact, bad_row
):
    from crm.contacts.bulk import ContactData, insert_contacts

    ann = make_contact("Ann", "A", email="ann@example.com")
    bob = make_contact("Bob", "B", email="bob@example.com")
    cy = make_contact("Cy", "C", email="cy@example.com", company="Kept")
    dee = make_contact("Dee", "D", email="dee@example.com")
    make_contact("Eve", "E", email="eve@example.com", company="Existing")
    data = COMPANY_ROWS
    if bad_row:
        # A row whose contact breaks a rule sends the batch one contact at a time.
        insert_contacts(
            [ContactData(emails=["old@example.com"], phones=[{"number": "4.9E+11"}])]
        )
        db.session.commit()
        data += b"old@example.com,,Newco\n"

    result = _import(db, data, on_duplicate="update")

    failed = 1 if bad_row else 0
    assert result.summary() == f"created 0, updated 3, skipped 1, failed {failed}"
    assert _companies(db) == ["Existing", "Kept", "Newco"]
    assert [_company_of(db, c) for c in (ann, bob, cy, dee)] == [
        "Newco",
        "Newco",
        "Kept",
        "Existing",
    ]


def test_dry_run_update_creates_no_company(app, db, make_contact):
    make_contact("Ann", "A", email="ann@example.com")

    result = _import(db, COMPANY_ROWS, on_duplicate="update", dry_run=True)

    assert result.updated == 1
    assert _companies(db) == []


def test_companies_differing_by_case_or_spaces_are_one_company_on_update(
    app, db, make_contact
):
    import unicodedata

    # As on the record: names are matched folded (case, runs of spaces and
    # the Unicode normalisation do not count); the company on file wins.
    emails = [f"{c}@example.com" for c in "abcdefg"]
    ids = [make_contact("N", "X", email=e).id for e in emails]
    make_contact("Old", "X", email="old@example.com", company="Acme")
    names = [
        "Acme",
        "ACME",
        "  Acme  ",
        unicodedata.normalize("NFD", "Caf\u00e9"),
        "CAF\u00c9",
        "Ac  me",
        "\u00a0ACME\u00a0",
    ]
    rows = "".join(f"{e},,{n}\n" for e, n in zip(emails, names, strict=True))
    data = b"email,first_name,company\n" + rows.encode()

    result = _import(db, data, on_duplicate="update", batch_size=3)

    assert result.summary() == "created 0, updated 7, skipped 0, failed 0"
    assert _companies(db) == ["Ac  me", "Acme", "Caf\u00e9"]
    assert [_company_of(db, db.session.get(Contact, i)) for i in ids] == [
        "Acme",
        "Acme",
        "Acme",
        "Caf\u00e9",
        "Caf\u00e9",
        "Ac  me",
        "Acme",
    ]


def test_new_contacts_join_a_company_written_differently(app, db, make_contact):
    make_contact("Old", "X", email="old@example.com", company="Acme Widgets")
    data = (
        b"email,first_name,company\n"
        b"a@example.com,A,ACME WIDGETS\n"
        b"b@example.com,B,acme  widgets\n"
        b"c@example.com,C,Nova Ltd\n"
        b"d@example.com,D,NOVA LTD\n"
    )

    result = _import(db, data)

    assert result.summary() == "created 4, updated 0, skipped 0, failed 0"
    assert _companies(db) == ["Acme Widgets", "Nova Ltd"]
    by_email = {
        c.primary_email: c.company.name for c in db.session.scalars(select(Contact))
    }
    assert by_email == {
        "old@example.com": "Acme Widgets",
        "a@example.com": "Acme Widgets",
        "b@example.com": "Acme Widgets",
        "c@example.com": "Nova Ltd",
        "d@example.com": "Nova Ltd",
    }


def test_new_company_of_a_failing_first_row_goes_to_the_next_row(app, db, make_contact):
    from crm.contacts.bulk import ContactData, insert_contacts

    ann = make_contact("Ann", "A", email="ann@example.com")
    insert_contacts(
        [ContactData(emails=["old@example.com"], phones=[{"number": "4.9E+11"}])]
    )
    db.session.commit()
    data = (
        b"email,first_name,company\n"
        b"old@example.com,,Newco\n"
        b"ann@example.com,,Newco\n"
        b"old@example.com,,Lonely\n"
    )

    result = _import(db, data, on_duplicate="update")

    assert result.summary() == "created 0, updated 1, skipped 0, failed 2"
    assert _companies(db) == ["Newco"]
    assert _company_of(db, ann) == "Newco"


@pytest.mark.parametrize("duplicate", [True, False], ids=["update", "create"])
def test_a_company_created_meanwhile_elsewhere_is_used(
    app, db, make_contact, monkeypatch, duplicate
):
    from sqlalchemy import create_engine, text

    from crm.contacts import bulk
    from crm.contacts.models import Company
    from crm.imports import engine

    if db.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time")
    ann = make_contact("Ann", "A", email="ann@example.com")
    other = create_engine(db.engine.url)
    raced = []

    def race():
        if not raced:
            raced.append(True)
            with other.begin() as connection:
                connection.execute(
                    text("INSERT INTO companies (name, created_at) VALUES (:n, now())"),
                    {"n": "Rival"},
                )

    if duplicate:
        read = engine._Companies.__init__

        def read_then_race(self, updates, contacts):
            read(self, updates, contacts)
            race()

        monkeypatch.setattr(engine._Companies, "__init__", read_then_race)
    else:
        insert_rows = bulk._insert_rows

        def race_then_insert(table, rows):
            if table is Company.__table__:
                race()
            insert_rows(table, rows)

        monkeypatch.setattr(bulk, "_insert_rows", race_then_insert)
    email = b"ann@example.com" if duplicate else b"new@example.com"

    result = _import(
        db, b"email,company\n" + email + b",Rival\n", on_duplicate="update"
    )
    other.dispose()

    assert raced and result.failed == 0
    assert _companies(db) == ["Rival"]
    if duplicate:
        assert _company_of(db, ann) == "Rival"
