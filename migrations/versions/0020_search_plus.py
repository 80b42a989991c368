"""search text keeps the plus of E.164 numbers, so "+34" is a country code

Revision ID: 0020_search_plus
Revises: 0017_webform_files

"""

import sqlalchemy as sa
from alembic import op

revision = "0020_search_plus"
down_revision = "0017_webform_files"
branch_labels = None
depends_on = None

BATCH = 5000


def _rewrite(change) -> None:
    """Pass each phone-bearing contact's search text through ``change``.

    The search text is the contact's folded parts joined by spaces; an E.164
    number is one of them, so its token is swapped whole.
    """
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.text(
                "SELECT c.id, c.search_text, p.e164 FROM contacts c"
                " JOIN contact_phones p ON p.contact_id = c.id"
                " WHERE p.e164 IS NOT NULL AND c.id IN ("
                "  SELECT DISTINCT contact_id FROM contact_phones"
                "  WHERE e164 IS NOT NULL AND contact_id > :last"
                "  ORDER BY contact_id LIMIT :batch)"
                " ORDER BY c.id"
            ),
            {"last": last, "batch": BATCH},
        ).all()
        if not rows:
            return
        texts, numbers = {}, {}
        for contact_id, search_text, e164 in rows:
            texts[contact_id] = search_text or ""
            numbers.setdefault(contact_id, set()).add(e164)
        for contact_id, search_text in texts.items():
            tokens = [
                change(token, numbers[contact_id]) for token in search_text.split(" ")
            ]
            new = " ".join(tokens)
            if new != search_text:
                connection.execute(
                    sa.text("UPDATE contacts SET search_text = :text WHERE id = :id"),
                    {"text": new, "id": contact_id},
                )
        last = max(texts)


def upgrade():
    _rewrite(lambda token, numbers: "+" + token if "+" + token in numbers else token)


def downgrade():
    _rewrite(lambda token, numbers: token[1:] if token in numbers else token)
