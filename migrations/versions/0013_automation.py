"""automation: campaigns, sequences, steps, goals, enrollments and due step runs

Revision ID: 0013
Revises: 0011

"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def _fk(table, column, target, ondelete):
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade():
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    op.create_table(
        "sequences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("runs_until_complete", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("sequences", "campaign_id", "campaigns", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequences")),
        sa.UniqueConstraint(
            "campaign_id", "name", name=op.f("uq_sequences_campaign_id_name")
        ),
    )
    op.create_index(
        op.f("ix_sequences_campaign_id"), "sequences", ["campaign_id"], unique=False
    )
    op.create_table(
        "sequence_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("timer_kind", sa.String(length=12), nullable=False),
        sa.Column("timer", sa.JSON(), nullable=True),
        sa.Column("action_kind", sa.String(length=20), nullable=False),
        sa.Column("action", sa.JSON(), nullable=True),
        sa.Column("max_lateness_minutes", sa.Integer(), nullable=True),
        _fk("sequence_steps", "sequence_id", "sequences", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequence_steps")),
    )
    op.create_index(
        op.f("ix_sequence_steps_sequence_id"),
        "sequence_steps",
        ["sequence_id"],
        unique=False,
    )
    op.create_table(
        "campaign_goals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("config", sa.JSON(), nullable=True),
        sa.Column("sequence_id", sa.Integer(), nullable=True),
        _fk("campaign_goals", "campaign_id", "campaigns", "CASCADE"),
        _fk("campaign_goals", "sequence_id", "sequences", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_goals")),
    )
    op.create_index(
        op.f("ix_campaign_goals_campaign_id"),
        "campaign_goals",
        ["campaign_id"],
        unique=False,
    )
    op.create_table(
        "sequence_enrollments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("sequence_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        _fk("sequence_enrollments", "contact_id", "contacts", "CASCADE"),
        _fk("sequence_enrollments", "sequence_id", "sequences", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequence_enrollments")),
        sa.UniqueConstraint(
            "contact_id",
            "sequence_id",
            name=op.f("uq_sequence_enrollments_contact_id_sequence_id"),
        ),
    )
    op.create_index(
        op.f("ix_sequence_enrollments_contact_id"),
        "sequence_enrollments",
        ["contact_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_sequence_enrollments_sequence_id"),
        "sequence_enrollments",
        ["sequence_id"],
        unique=False,
    )
    op.create_table(
        "step_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("result_ref", sa.String(length=80), nullable=True),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("step_runs", "contact_id", "contacts", "CASCADE"),
        _fk("step_runs", "enrollment_id", "sequence_enrollments", "CASCADE"),
        _fk("step_runs", "step_id", "sequence_steps", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_runs")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_step_runs_idempotency_key")
        ),
    )
    op.create_index(
        op.f("ix_step_runs_enrollment_id"),
        "step_runs",
        ["enrollment_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_step_runs_step_id"), "step_runs", ["step_id"], unique=False
    )
    op.create_index(
        "ix_step_runs_status_due", "step_runs", ["status", "due_at"], unique=False
    )
    op.create_index(
        "ix_step_runs_contact_due", "step_runs", ["contact_id", "due_at"], unique=False
    )
    op.create_table(
        "step_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        _fk("step_attempts", "run_id", "step_runs", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_attempts")),
    )
    op.create_index(
        op.f("ix_step_attempts_run_id"), "step_attempts", ["run_id"], unique=False
    )
    op.create_table(
        "goal_achievements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("achieved_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        _fk("goal_achievements", "contact_id", "contacts", "CASCADE"),
        _fk("goal_achievements", "goal_id", "campaign_goals", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goal_achievements")),
    )
    op.create_index(
        op.f("ix_goal_achievements_contact_id"),
        "goal_achievements",
        ["contact_id"],
        unique=False,
    )
    op.create_index(
        "ix_goal_achievements_goal_contact",
        "goal_achievements",
        ["goal_id", "contact_id"],
        unique=False,
    )


def downgrade():
    op.drop_table("goal_achievements")
    op.drop_table("step_attempts")
    op.drop_table("step_runs")
    op.drop_table("sequence_enrollments")
    op.drop_table("campaign_goals")
    op.drop_table("sequence_steps")
    op.drop_table("sequences")
    op.drop_table("campaigns")
