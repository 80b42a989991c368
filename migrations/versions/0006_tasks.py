"""tasks, appointments, notes and their custom fields

Revision ID: 0006
Revises: 0007

"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0007"
branch_labels = None
depends_on = None


def _user_fk(table, column):
    return sa.ForeignKeyConstraint(
        [column],
        ["users.id"],
        name=op.f(f"fk_{table}_{column}_users"),
        ondelete="SET NULL",
    )


def _contact_fk(table):
    return sa.ForeignKeyConstraint(
        ["contact_id"],
        ["contacts.id"],
        name=op.f(f"fk_{table}_contact_id_contacts"),
        ondelete="CASCADE",
    )


def _reminder_columns():
    return [
        sa.Column("remind_minutes", sa.Integer(), nullable=True),
        sa.Column("remind_at", sa.DateTime(), nullable=True),
        sa.Column("reminder_sent_at", sa.DateTime(), nullable=True),
        sa.Column("reminder_dismissed_at", sa.DateTime(), nullable=True),
    ]


def upgrade():
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("task_type", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=20), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=True),
        sa.Column("assigned_to_id", sa.Integer(), nullable=True),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("completed_by_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *_reminder_columns(),
        _contact_fk("tasks"),
        _user_fk("tasks", "assigned_to_id"),
        _user_fk("tasks", "completed_by_id"),
        _user_fk("tasks", "created_by_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(op.f("ix_tasks_contact_id"), "tasks", ["contact_id"])
    op.create_index(
        "ix_tasks_assigned_pending", "tasks", ["assigned_to_id", "completed", "due_at"]
    )
    op.create_index("ix_tasks_remind_at", "tasks", ["remind_at"])

    op.create_table(
        "appointments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("location", sa.String(length=255), nullable=True),
        sa.Column("assigned_to_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *_reminder_columns(),
        sa.CheckConstraint(
            "ends_at > starts_at", name=op.f("ck_appointments_end_after_start")
        ),
        _contact_fk("appointments"),
        _user_fk("appointments", "assigned_to_id"),
        _user_fk("appointments", "created_by_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
    )
    op.create_index(op.f("ix_appointments_contact_id"), "appointments", ["contact_id"])
    op.create_index(
        op.f("ix_appointments_assigned_to_id"), "appointments", ["assigned_to_id"]
    )
    op.create_index("ix_appointments_remind_at", "appointments", ["remind_at"])

    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("note_type", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("pinned_at", sa.DateTime(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _contact_fk("notes"),
        _user_fk("notes", "created_by_id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    op.create_index(op.f("ix_notes_contact_id"), "notes", ["contact_id"])

    op.create_table(
        "activity_fields",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_type", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("field_name", sa.String(length=100), nullable=False),
        sa.Column("field_type", sa.String(length=20), nullable=False),
        sa.Column("options", sa.Text(), nullable=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_fields")),
        sa.UniqueConstraint("field_name", name=op.f("uq_activity_fields_field_name")),
    )
    op.create_table(
        "activity_field_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("field_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("record_type", sa.String(length=20), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        _contact_fk("activity_field_values"),
        sa.ForeignKeyConstraint(
            ["field_id"],
            ["activity_fields.id"],
            name=op.f("fk_activity_field_values_field_id_activity_fields"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_field_values")),
        sa.UniqueConstraint(
            "field_id",
            "record_type",
            "record_id",
            name=op.f("uq_activity_field_values_field_id_record_type_record_id"),
        ),
    )
    op.create_index(
        op.f("ix_activity_field_values_field_id"),
        "activity_field_values",
        ["field_id"],
    )
    op.create_index(
        op.f("ix_activity_field_values_contact_id"),
        "activity_field_values",
        ["contact_id"],
    )


def downgrade():
    op.drop_index(
        op.f("ix_activity_field_values_contact_id"), table_name="activity_field_values"
    )
    op.drop_index(
        op.f("ix_activity_field_values_field_id"), table_name="activity_field_values"
    )
    op.drop_table("activity_field_values")
    op.drop_table("activity_fields")
    op.drop_index(op.f("ix_notes_contact_id"), table_name="notes")
    op.drop_table("notes")
    op.drop_index("ix_appointments_remind_at", table_name="appointments")
    op.drop_index(op.f("ix_appointments_assigned_to_id"), table_name="appointments")
    op.drop_index(op.f("ix_appointments_contact_id"), table_name="appointments")
    op.drop_table("appointments")
    op.drop_index("ix_tasks_remind_at", table_name="tasks")
    op.drop_index("ix_tasks_assigned_pending", table_name="tasks")
    op.drop_index(op.f("ix_tasks_contact_id"), table_name="tasks")
    op.drop_table("tasks")
