"""Tag names from an import are cleaned as the tag screen cleans them."""

from sqlalchemy import select

from crm.imports.engine import run
from crm.tags.models import Tag


def test_runs_of_spaces_in_tag_names_are_collapsed(app, db):
    data = b'first_name,tags\nA,"VIP  Gold,  Spaced   Tag  ,*Star"\nB,vip gold\n'

    result = run(data)
    db.session.commit()

    assert result.created == 2
    names = sorted(db.session.scalars(select(Tag.name)))
    assert names == ["Spaced Tag", "Star", "VIP Gold"]
