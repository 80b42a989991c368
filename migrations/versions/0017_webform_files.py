"""files sent with web forms: file fields, the files a submission carried, and
where a file-box file came from

Revision ID: 0017_webform_files
Revises: 0015_webforms

"""

import sqlalchemy as sa
from alembic import op

revision = "0017_webform_files"
down_revision = "0015_webforms"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("webform_fields", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "multiple", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("webform_submissions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hold_detail", sa.Text(), nullable=False, server_default="")
        )
    with op.batch_alter_table("contact_files", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "source_name", sa.String(length=120), nullable=False, server_default=""
            )
        )
    op.create_table(
        "webform_submission_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("field_key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=True),
        sa.Column("contact_file_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["webform_submissions.id"],
            name=op.f("fk_webform_submission_files_submission_id_webform_submissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_file_id"],
            ["contact_files.id"],
            name=op.f("fk_webform_submission_files_contact_file_id_contact_files"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webform_submission_files")),
        sa.UniqueConstraint(
            "stored_name", name=op.f("uq_webform_submission_files_stored_name")
        ),
    )
    with op.batch_alter_table("webform_submission_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webform_submission_files_submission_id"),
            ["submission_id"],
            unique=False,
        )


def downgrade():
    op.drop_table("webform_submission_files")
    with op.batch_alter_table("contact_files", schema=None) as batch_op:
        batch_op.drop_column("source_name")
    with op.batch_alter_table("webform_submissions", schema=None) as batch_op:
        batch_op.drop_column("hold_detail")
    with op.batch_alter_table("webform_fields", schema=None) as batch_op:
        batch_op.drop_column("multiple")
