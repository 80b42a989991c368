"""tracked sites, web visitors, sessions and page views; the contact file box

Revision ID: 0016_web_behaviour_files
Revises: 0013

"""

import sqlalchemy as sa
from alembic import op

revision = "0016_web_behaviour_files"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "tracked_sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("origins", sa.Text(), nullable=False),
        sa.Column("site_key", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracked_sites")),
        sa.UniqueConstraint("site_key", name=op.f("uq_tracked_sites_site_key")),
    )
    op.create_table(
        "contact_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("public_token", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_files_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["users.id"],
            name=op.f("fk_contact_files_uploaded_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_files")),
        sa.UniqueConstraint("public_token", name=op.f("uq_contact_files_public_token")),
        sa.UniqueConstraint("stored_name", name=op.f("uq_contact_files_stored_name")),
    )
    with op.batch_alter_table("contact_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_files_contact_id"), ["contact_id"], unique=False
        )

    op.create_table(
        "web_visitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("visitor_key", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("identified_at", sa.DateTime(), nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("summarised_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_web_visitors_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["tracked_sites.id"],
            name=op.f("fk_web_visitors_site_id_tracked_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_visitors")),
        sa.UniqueConstraint(
            "site_id", "visitor_key", name=op.f("uq_web_visitors_site_id_visitor_key")
        ),
    )
    with op.batch_alter_table("web_visitors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_web_visitors_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_web_visitors_visitor_key"), ["visitor_key"], unique=False
        )

    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visitor_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("landing_page", sa.String(length=2000), nullable=False),
        sa.Column("referrer", sa.String(length=2000), nullable=False),
        sa.Column("utm_source", sa.String(length=255), nullable=False),
        sa.Column("utm_medium", sa.String(length=255), nullable=False),
        sa.Column("utm_campaign", sa.String(length=255), nullable=False),
        sa.Column("utm_term", sa.String(length=255), nullable=False),
        sa.Column("utm_content", sa.String(length=255), nullable=False),
        sa.Column("page_count", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_web_sessions_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["activity_events.id"],
            name=op.f("fk_web_sessions_event_id_activity_events"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["web_visitors.id"],
            name=op.f("fk_web_sessions_visitor_id_web_visitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_web_sessions_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            "ix_web_sessions_visitor_seen", ["visitor_id", "last_seen_at"], unique=False
        )

    op.create_table(
        "page_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("visitor_id", sa.Integer(), nullable=False),
        sa.Column("view_key", sa.String(length=40), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("page", sa.String(length=2000), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("referrer", sa.String(length=2000), nullable=False),
        sa.Column("viewed_at", sa.DateTime(), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["web_sessions.id"],
            name=op.f("fk_page_views_session_id_web_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["web_visitors.id"],
            name=op.f("fk_page_views_visitor_id_web_visitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_views")),
        sa.UniqueConstraint(
            "visitor_id", "view_key", name=op.f("uq_page_views_visitor_id_view_key")
        ),
    )
    with op.batch_alter_table("page_views", schema=None) as batch_op:
        batch_op.create_index(
            "ix_page_views_session_time", ["session_id", "viewed_at"], unique=False
        )


def downgrade():
    op.drop_table("page_views")
    op.drop_table("web_sessions")
    op.drop_table("web_visitors")
    op.drop_table("contact_files")
    op.drop_table("tracked_sites")
