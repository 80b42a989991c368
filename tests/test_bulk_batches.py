from sqlalchemy import select

from crm.contacts import search
from crm.contacts.bulk import ContactData, insert_contacts
from crm.contacts.models import Contact, ContactAddress, ContactEmail


def _row(i):
    fields = {"given_name": f"Given{i}", "family_name": "Batch"}
    if i % 3 == 0:
        fields["job_title"] = "Buyer"
    billing = {"country_code": "DEU"}
    if i % 2:
        billing["line1"] = f"Street {i}"
    return ContactData(
        fields=fields,
        emails=[f"given{i}@batch.example"],
        addresses={"billing": billing},
        tags=["Batch"] if i % 5 == 0 else [],
    )


def test_bulk_insert_keeps_row_order_over_many_statements(db):
    # More rows than one statement holds, with key sets that differ per row.
    rows = [_row(i) for i in range(1203)]
    ids = insert_contacts(rows)
    db.session.commit()

    assert len(ids) == len(set(ids)) == 1203
    found = {
        cid: (given, job)
        for cid, given, job in db.session.execute(
            select(Contact.id, Contact.given_name, Contact.job_title)
        )
    }
    for i, cid in enumerate(ids):
        assert found[cid] == (f"Given{i}", "Buyer" if i % 3 == 0 else None)
    lines = dict(
        db.session.execute(
            select(ContactAddress.contact_id, ContactAddress.line1)
        ).all()
    )
    assert lines[ids[7]] == "Street 7"
    assert lines[ids[8]] is None
    emails = dict(
        db.session.execute(
            select(ContactEmail.contact_id, ContactEmail.normalized)
        ).all()
    )
    assert emails[ids[1202]] == "given1202@batch.example"


def test_bulk_inserted_contacts_are_in_the_search_index(db):
    ids = insert_contacts([_row(i) for i in range(700)])
    db.session.commit()
    clause = search.criterion("given699@batch", db.engine.dialect.name)
    assert db.session.scalars(select(Contact.id).where(clause)).all() == [ids[699]]


def test_bulk_insert_stores_each_rows_own_timestamp(db):
    from datetime import UTC, datetime, timedelta, timezone

    # Shared and distinct timestamp objects, one in another zone, and none.
    first = datetime(2020, 5, 1, 12, 0, tzinfo=UTC)
    second = datetime(2021, 6, 2, 8, 30, tzinfo=timezone(timedelta(hours=2)))
    stamps = [first, first, second, None, second, datetime(2022, 1, 3, tzinfo=UTC)]
    rows = [
        ContactData(fields={"given_name": f"T{i}", "created_at": stamp})
        for i, stamp in enumerate(stamps)
    ]

    ids = insert_contacts(rows, created_at=datetime(2023, 7, 4, tzinfo=UTC))
    db.session.commit()

    found = dict(db.session.execute(select(Contact.id, Contact.created_at)).all())
    assert [found[i] for i in ids] == [
        first,
        first,
        datetime(2021, 6, 2, 6, 30, tzinfo=UTC),
        datetime(2023, 7, 4, tzinfo=UTC),
        datetime(2021, 6, 2, 6, 30, tzinfo=UTC),
        datetime(2022, 1, 3, tzinfo=UTC),
    ]
