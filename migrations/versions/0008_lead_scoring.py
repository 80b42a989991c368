"""lead scoring: score rules, the points contacts earned, the ideal score

Revision ID: 0008
Revises: 0006

"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "score_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("trigger", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("expires_weeks", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_rules")),
    )
    op.create_index(
        op.f("ix_score_rules_trigger"), "score_rules", ["trigger"], unique=False
    )
    op.create_table(
        "score_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("earned_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("target", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_score_entries_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["activity_events.id"],
            name=op.f("fk_score_entries_event_id_activity_events"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["score_rules.id"],
            name=op.f("fk_score_entries_rule_id_score_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_entries")),
        sa.UniqueConstraint(
            "rule_id",
            "contact_id",
            "target",
            name=op.f("uq_score_entries_rule_id_contact_id_target"),
        ),
    )
    op.create_index(
        "ix_score_entries_contact_expiry",
        "score_entries",
        ["contact_id", "expires_at"],
    )
    op.create_index(
        op.f("ix_score_entries_event_id"), "score_entries", ["event_id"], unique=False
    )
    settings = op.create_table(
        "score_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ideal_score", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_settings")),
    )
    op.bulk_insert(settings, [{"id": 1, "ideal_score": 3}])


def downgrade():
    op.drop_table("score_settings")
    op.drop_index(op.f("ix_score_entries_event_id"), table_name="score_entries")
    op.drop_index("ix_score_entries_contact_expiry", table_name="score_entries")
    op.drop_table("score_entries")
    op.drop_index(op.f("ix_score_rules_trigger"), table_name="score_rules")
    op.drop_table("score_rules")
