"""a tag application names the automation or web form that applied it

Revision ID: 0021_tag_applied_via
Revises: 0020_search_plus

"""

import sqlalchemy as sa
from alembic import op

revision = "0021_tag_applied_via"
down_revision = "0020_search_plus"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("applied_via", sa.String(length=40)))


def downgrade():
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.drop_column("applied_via")
