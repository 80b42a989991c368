"""access privileges: teams, sharing, per-area permissions, audit log, throttling

Revision ID: 0003
Revises: 0001

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

AREAS = (
    "contacts",
    "opportunities",
    "orders",
    "referral_partners",
    "campaigns",
    "files",
)


def _permission_columns():
    return [
        sa.Column("can_add", sa.Boolean(), nullable=False),
        sa.Column("view_scope", sa.String(length=3), nullable=False),
        sa.Column("edit_scope", sa.String(length=3), nullable=False),
        sa.Column("can_delete", sa.Boolean(), nullable=False),
        sa.Column("can_reassign_owner", sa.Boolean(), nullable=False),
        sa.Column("can_import", sa.Boolean(), nullable=False),
        sa.Column("can_export", sa.Boolean(), nullable=False),
    ]


def _scope_checks(table):
    return [
        sa.CheckConstraint(
            "view_scope IN ('all', 'own')", name=op.f(f"ck_{table}_view_scope")
        ),
        sa.CheckConstraint(
            "edit_scope IN ('all', 'own')", name=op.f(f"ck_{table}_edit_scope")
        ),
    ]


def upgrade():
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "team_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("is_manager", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_team_members_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_team_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_team_members")),
        sa.UniqueConstraint(
            "team_id", "user_id", name=op.f("uq_team_members_team_id_user_id")
        ),
    )
    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_team_members_user_team", ["user_id", "team_id"], unique=False
        )

    op.create_table(
        "contact_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.String(length=4), nullable=False),
        sa.Column("granted_by_id", sa.Integer(), nullable=True),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "level IN ('view', 'edit')", name=op.f("ck_contact_shares_level")
        ),
        sa.CheckConstraint(
            "(user_id IS NULL AND team_id IS NOT NULL) OR "
            "(user_id IS NOT NULL AND team_id IS NULL)",
            name=op.f("ck_contact_shares_one_principal"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_shares_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_contact_shares_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_contact_shares_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["granted_by_id"],
            ["users.id"],
            name=op.f("fk_contact_shares_granted_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_shares")),
        sa.UniqueConstraint(
            "contact_id", "user_id", name=op.f("uq_contact_shares_contact_id_user_id")
        ),
        sa.UniqueConstraint(
            "contact_id", "team_id", name=op.f("uq_contact_shares_contact_id_team_id")
        ),
    )
    with op.batch_alter_table("contact_shares", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contact_shares_user_contact", ["user_id", "contact_id"], unique=False
        )
        batch_op.create_index(
            "ix_contact_shares_team_contact", ["team_id", "contact_id"], unique=False
        )

    op.create_table(
        "user_permissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("area", sa.String(length=30), nullable=False),
        *_permission_columns(),
        *_scope_checks("user_permissions"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_permissions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_permissions")),
        sa.UniqueConstraint(
            "user_id", "area", name=op.f("uq_user_permissions_user_id_area")
        ),
    )
    defaults = op.create_table(
        "default_permissions",
        sa.Column("area", sa.String(length=30), nullable=False),
        *_permission_columns(),
        *_scope_checks("default_permissions"),
        sa.PrimaryKeyConstraint("area", name=op.f("pk_default_permissions")),
    )
    # A fresh install keeps the open behaviour it had before per-user access;
    # the administrator narrows it under Settings > Default permissions.
    op.bulk_insert(
        defaults,
        [
            {
                "area": area,
                "can_add": True,
                "view_scope": "all",
                "edit_scope": "all",
                "can_delete": True,
                "can_reassign_owner": True,
                "can_import": True,
                "can_export": True,
            }
            for area in AREAS
        ],
    )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=False),
        sa.Column("target_ids", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_audit_log_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_log_actor_id"), ["actor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_audit_log_action"), ["action"], unique=False
        )

    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("account", sa.String(length=254), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_login_failures_account_at", ["account", "at"], unique=False
        )
        batch_op.create_index(
            "ix_login_failures_address_at", ["address", "at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_login_failures_address_at")
        batch_op.drop_index("ix_login_failures_account_at")
    op.drop_table("login_failures")

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_action"))
        batch_op.drop_index(batch_op.f("ix_audit_log_actor_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
    op.drop_table("audit_log")

    op.drop_table("default_permissions")
    op.drop_table("user_permissions")

    with op.batch_alter_table("contact_shares", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_shares_team_contact")
        batch_op.drop_index("ix_contact_shares_user_contact")
    op.drop_table("contact_shares")

    with op.batch_alter_table("team_members", schema=None) as batch_op:
        batch_op.drop_index("ix_team_members_user_team")
    op.drop_table("team_members")
    op.drop_table("teams")
