"""opportunities: stages with checklists and reasons, moves, custom fields

Revision ID: 0009
Revises: 0008

"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _fk(table, column, target, ondelete=None):
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade():
    op.create_table(
        "opportunity_stages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Integer(), nullable=False),
        sa.Column("target_days", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=4), nullable=False),
        sa.Column("reason_required", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "probability >= 0 AND probability <= 100",
            name=op.f("ck_opportunity_stages_probability"),
        ),
        sa.CheckConstraint(
            "target_days >= 0", name=op.f("ck_opportunity_stages_target_days")
        ),
        sa.CheckConstraint(
            "kind IN ('open', 'won', 'lost')", name=op.f("ck_opportunity_stages_kind")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunity_stages")),
        sa.UniqueConstraint("name", name=op.f("uq_opportunity_stages_name")),
    )
    op.create_index(
        "ix_opportunity_stages_closing_kind",
        "opportunity_stages",
        ["kind"],
        unique=True,
        sqlite_where=sa.text("kind <> 'open'"),
        postgresql_where=sa.text("kind <> 'open'"),
    )

    op.create_table(
        "opportunity_checklist_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _fk("opportunity_checklist_items", "stage_id", "opportunity_stages", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunity_checklist_items")),
    )
    op.create_index(
        op.f("ix_opportunity_checklist_items_stage_id"),
        "opportunity_checklist_items",
        ["stage_id"],
    )

    op.create_table(
        "opportunity_stage_reasons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _fk("opportunity_stage_reasons", "stage_id", "opportunity_stages", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunity_stage_reasons")),
    )
    op.create_index(
        op.f("ix_opportunity_stage_reasons_stage_id"),
        "opportunity_stage_reasons",
        ["stage_id"],
    )

    op.create_table(
        "opportunities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("next_action_at", sa.DateTime(), nullable=True),
        sa.Column("next_action_notes", sa.Text(), nullable=True),
        sa.Column("estimated_close_on", sa.Date(), nullable=True),
        sa.Column("revenue_low", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("revenue_high", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("include_in_forecast", sa.Boolean(), nullable=False),
        sa.Column("lead_source", sa.String(length=100), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("stage_entered_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("close_reason", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "revenue_low IS NULL OR revenue_high IS NULL "
            "OR revenue_low <= revenue_high",
            name=op.f("ck_opportunities_revenue_range"),
        ),
        _fk("opportunities", "contact_id", "contacts", "CASCADE"),
        _fk("opportunities", "stage_id", "opportunity_stages"),
        _fk("opportunities", "owner_id", "users", "SET NULL"),
        _fk("opportunities", "created_by_id", "users", "SET NULL"),
        _fk("opportunities", "updated_by_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunities")),
    )
    for column in ("contact_id", "stage_id", "owner_id", "estimated_close_on"):
        op.create_index(op.f(f"ix_opportunities_{column}"), "opportunities", [column])

    op.create_table(
        "opportunity_checklist_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=False),
        sa.Column("done_by_id", sa.Integer(), nullable=True),
        _fk(
            "opportunity_checklist_checks", "opportunity_id", "opportunities", "CASCADE"
        ),
        _fk(
            "opportunity_checklist_checks",
            "item_id",
            "opportunity_checklist_items",
            "CASCADE",
        ),
        _fk("opportunity_checklist_checks", "done_by_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunity_checklist_checks")),
        sa.UniqueConstraint(
            "opportunity_id",
            "item_id",
            name=op.f("uq_opportunity_checklist_checks_opportunity_id_item_id"),
        ),
    )
    op.create_index(
        op.f("ix_opportunity_checklist_checks_item_id"),
        "opportunity_checklist_checks",
        ["item_id"],
    )

    op.create_table(
        "opportunity_stage_moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.Column("from_stage_id", sa.Integer(), nullable=True),
        sa.Column("to_stage_id", sa.Integer(), nullable=True),
        sa.Column("moved_at", sa.DateTime(), nullable=False),
        sa.Column("moved_by_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        _fk("opportunity_stage_moves", "opportunity_id", "opportunities", "CASCADE"),
        _fk(
            "opportunity_stage_moves", "from_stage_id", "opportunity_stages", "SET NULL"
        ),
        _fk("opportunity_stage_moves", "to_stage_id", "opportunity_stages", "SET NULL"),
        _fk("opportunity_stage_moves", "moved_by_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunity_stage_moves")),
    )
    op.create_index(
        op.f("ix_opportunity_stage_moves_opportunity_id"),
        "opportunity_stage_moves",
        ["opportunity_id"],
    )

    op.create_table(
        "opportunity_fields",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("field_name", sa.String(length=100), nullable=False),
        sa.Column("field_type", sa.String(length=20), nullable=False),
        sa.Column("options", sa.Text(), nullable=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunity_fields")),
        sa.UniqueConstraint(
            "field_name", name=op.f("uq_opportunity_fields_field_name")
        ),
    )

    op.create_table(
        "opportunity_field_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.Column("field_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        _fk("opportunity_field_values", "opportunity_id", "opportunities", "CASCADE"),
        _fk("opportunity_field_values", "field_id", "opportunity_fields", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunity_field_values")),
        sa.UniqueConstraint(
            "opportunity_id",
            "field_id",
            name=op.f("uq_opportunity_field_values_opportunity_id_field_id"),
        ),
    )
    op.create_index(
        op.f("ix_opportunity_field_values_field_id"),
        "opportunity_field_values",
        ["field_id"],
    )


def downgrade():
    op.drop_index(
        op.f("ix_opportunity_field_values_field_id"),
        table_name="opportunity_field_values",
    )
    op.drop_table("opportunity_field_values")
    op.drop_table("opportunity_fields")
    op.drop_index(
        op.f("ix_opportunity_stage_moves_opportunity_id"),
        table_name="opportunity_stage_moves",
    )
    op.drop_table("opportunity_stage_moves")
    op.drop_index(
        op.f("ix_opportunity_checklist_checks_item_id"),
        table_name="opportunity_checklist_checks",
    )
    op.drop_table("opportunity_checklist_checks")
    for column in ("contact_id", "stage_id", "owner_id", "estimated_close_on"):
        op.drop_index(op.f(f"ix_opportunities_{column}"), table_name="opportunities")
    op.drop_table("opportunities")
    op.drop_index(
        op.f("ix_opportunity_stage_reasons_stage_id"),
        table_name="opportunity_stage_reasons",
    )
    op.drop_table("opportunity_stage_reasons")
    op.drop_index(
        op.f("ix_opportunity_checklist_items_stage_id"),
        table_name="opportunity_checklist_items",
    )
    op.drop_table("opportunity_checklist_items")
    op.drop_index("ix_opportunity_stages_closing_kind", table_name="opportunity_stages")
    op.drop_table("opportunity_stages")
