"""Two columns that name the same field: the first is imported, the other is not."""

import re
from io import BytesIO

from sqlalchemy import select

from crm.contacts.models import Contact
from crm.customfields.models import CustomField, CustomHeader, CustomTab
from crm.imports.engine import ImportOptions, open_file, run


def _fields(db):
    tab = CustomTab(name="Extra")
    header = CustomHeader(tab=tab, name="Info")
    plan = CustomField(
        header=header,
        label="Plan",
        field_name="Plan",
        field_type="dropdown",
        options="Gold\nSilver",
    )
    colour = CustomField(
        header=header,
        label="Favourite Colour",
        field_name="FavouriteColour",
        field_type="text",
    )
    db.session.add_all([tab, header, plan, colour])
    db.session.commit()
    return plan, colour


TWICE = b"first_name,email,Plan,Plan\nAnn,plan@example.com,Gold,Silver\n"
LABEL_AND_NAME = (
    b"first_name,email,Favourite Colour,FavouriteColour\nCf1,cf1@example.com,Blue,Red\n"
)


def test_only_the_first_column_of_a_custom_field_is_mapped(app, db):
    plan, colour = _fields(db)

    twice = open_file(TWICE)
    by_label = open_file(LABEL_AND_NAME)

    assert twice.mapping == ["given_name", "email1", f"custom:{plan.id}", ""]
    assert twice.unmapped == ["Plan"]
    assert twice.left_out == [(3, 2)]
    assert by_label.mapping == ["given_name", "email1", f"custom:{colour.id}", ""]
    assert by_label.unmapped == ["FavouriteColour"]


def test_the_screen_shows_the_mapping_table_for_such_a_file(web, login_as, db):
    plan, _colour = _fields(db)
    login_as("user")

    answer = web.post(
        "/admin/imports/upload",
        {"file": (BytesIO(TWICE), "custom_twice.csv")},
        content_type="multipart/form-data",
    )
    page = web.get(answer.headers["Location"]).get_data(as_text=True)

    assert 'id="mapping-table"' in page
    assert "both mapped to the same field" not in page
    selects = re.findall(r'<select[^>]*name="(map-\d)"[^>]*>(.*?)</select>', page, re.S)
    chosen = {
        name: re.search(r'<option value="([^"]*)" selected', body)
        for name, body in selects
    }
    assert chosen["map-2"].group(1) == f"custom:{plan.id}"
    assert chosen["map-3"].group(1) == ""  # do not import


def test_the_cli_says_which_column_was_left_out(runner, db, tmp_path):
    plan, _colour = _fields(db)
    path = tmp_path / "custom_twice.csv"
    path.write_bytes(TWICE)

    result = runner.invoke(args=["contacts", "import", str(path)])

    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert "Columns not imported: Plan" in lines
    assert (
        "Column 4 (Plan) was not imported: column 3 (Plan) fills the same field."
        in lines
    )
    assert lines[-1] == "created 1, updated 0, skipped 0, failed 0"
    [ann] = db.session.scalars(select(Contact)).all()
    assert [(v.field_id, v.value) for v in ann.custom_values] == [(plan.id, "Gold")]


def test_a_custom_date_problem_reads_as_two_sentences(app, db):
    tab = CustomTab(name="Dates")
    header = CustomHeader(tab=tab, name="Renewal")
    renewal = CustomField(
        header=header, label="Renewal", field_name="Renewal", field_type="date"
    )
    db.session.add_all([tab, header, renewal])
    db.session.commit()
    data = b"first_name,Renewal\nAnn,12/31/2025\n"

    result = run(data, options=ImportOptions(date_format="%d/%m/%Y"))

    assert [p.message for p in result.problems] == [
        "month 31 is not valid. This value was left out."
    ]
