"""Join the import-jobs and access-privileges branches into one history.

Revision ID: 0004
Revises: 0002, 0003
"""

revision = "0004"
down_revision = ("0002", "0003")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
