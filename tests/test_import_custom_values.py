"""A custom value its field refuses is left out; the row is still imported."""

from sqlalchemy import select

from crm.contacts.models import Contact
from crm.customfields.models import CustomField, CustomHeader, CustomTab
from crm.imports.engine import ImportOptions, run
from crm.imports.rows import ERROR, WARNING


def _fields(db):
    tab = CustomTab(name="Sales")
    header = CustomHeader(tab=tab, name="Profile")
    product = CustomField(
        header=header,
        label="Favourite Product",
        field_name="FavouriteProduct",
        field_type="dropdown",
        options="Plan Basic\nPlan Plus",
    )
    seats = CustomField(
        header=header, label="Seats", field_name="Seats", field_type="whole_number"
    )
    renewal = CustomField(
        header=header, label="Renewal", field_name="Renewal", field_type="date"
    )
    db.session.add_all([tab, header, product, seats, renewal])
    db.session.commit()
    return product, seats, renewal


def test_refused_custom_values_are_left_out_and_the_row_imported(db):
    product, seats, renewal = _fields(db)
    data = (
        b"First Name,Email,Product,Seats,Renewal\n"
        b"Umit,umit@example.com,Plan Pro,12,2027-01-31\n"
        b"Vera,vera@example.com,Plan Plus,many,31/01/2027\n"
    )
    mapping = [
        "given_name",
        "email1",
        f"custom:{product.id}",
        f"custom:{seats.id}",
        f"custom:{renewal.id}",
    ]

    result = run(data, options=ImportOptions(mapping=mapping))
    db.session.commit()

    assert (result.created, result.failed) == (2, 0)
    assert [(p.row, p.column, p.level) for p in result.problems] == [
        (2, "Product", WARNING),
        (3, "Seats", WARNING),
        (3, "Renewal", WARNING),
    ]
    assert result.problems[0].message == (
        "“Plan Pro” is not one of the options (Plan Basic, Plan Plus). "
        "This value was left out."
    )
    assert all(ERROR != p.level for p in result.problems)

    contacts = db.session.scalars(select(Contact).order_by(Contact.id)).all()
    values = [
        sorted((v.field_id, v.value) for v in contact.custom_values)
        for contact in contacts
    ]
    assert values == [
        sorted([(seats.id, "12"), (renewal.id, "2027-01-31")]),
        [(product.id, "Plan Plus")],
    ]


def _upload(web, name, data):
    from io import BytesIO

    response = web.post(
        "/admin/imports/upload",
        {"file": (BytesIO(data), name)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def _badges(page):
    """(row, badge) of each line of the Problems table."""
    import re

    table = page[page.index('id="problems"') :]
    return re.findall(
        r"<td>(\d+)</td>.*?<span class=\"badge [^\"]+\">([^<]+)</span>", table, re.S
    )


def test_problems_table_marks_every_problem_of_a_failed_row_not_imported(
    db, web, login_as
):
    login_as("user")
    long_tag = b"x" * 300
    data = (
        b"First Name,Email,Tags,Anniversary\n"
        b"Ann,ann@example.com," + long_tag + b",31/01/2020\n"
        b"Bob,bob@example.com," + long_tag + b",2020-01-31\n"
    )
    url = _upload(web, "people.csv", data)
    page = web.get(url).get_data(as_text=True)
    import re

    form = {
        m.group(1): m.group(2)
        for m in re.finditer(
            r'<select[^>]*name="(map-\d+)"[^>]*>.*?<option value="([^"]*)" selected',
            page,
            re.S,
        )
    }
    form.update(on_duplicate="update", date_format="%Y-%m-%d", action="check")
    web.post(url, form)

    page = web.get(url).get_data(as_text=True)
    assert _badges(page) == [
        ("2", "not imported"),
        ("2", "not imported"),
        ("3", "imported"),
    ]


def test_stored_import_texts_are_shown_in_the_readers_language(db, web, login_as):
    from crm.imports.models import DONE, ImportJob

    user = login_as("user")
    user.locale = "es"
    job = ImportJob(
        user_id=user.id,
        file_name="keap.csv",
        stored_name="gone",
        state=DONE,
        created=102,
        problems=[
            {
                "row": 2,
                "column": "Phone 1",
                "message": "12 could not be read as a phone number; it was kept "
                "as typed.",
                "level": "warning",
            },
            {
                "row": 3,
                "column": "Birthday",
                "message": "The birthday 2090-01-01 lies in the future; it was "
                "left out.",
                "level": "warning",
            },
            {
                "row": 4,
                "column": "Seats",
                "message": "enter a whole number, such as 42. This value was left out.",
                "level": "warning",
            },
        ],
        problem_count=3,
    )
    db.session.add(job)
    db.session.commit()

    page = web.get(f"/admin/imports/{job.id}/").get_data(as_text=True)

    assert "creados 102, actualizados 0, omitidos 0, fallidos 0" in page
    assert (
        "12 no se pudo leer como número de teléfono; se conservó tal como se "
        "escribió." in page
    )
    assert "El cumpleaños 2090-01-01 está en el futuro; se dejó fuera." in page
    assert "introduzca un número entero, por ejemplo 42." in page
    assert "could not be read" not in page and "created 102" not in page
