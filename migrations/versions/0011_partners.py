"""referral partners, referrals, tracking destinations and commissions

Revision ID: 0011
Revises: 0010

"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "referral_partners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("code_key", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("notify_on_lead", sa.Boolean(), nullable=False),
        sa.Column("notify_on_sale", sa.Boolean(), nullable=False),
        sa.Column("track_days", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "parent_id IS NULL OR parent_id <> id",
            name=op.f("ck_referral_partners_not_own_parent"),
        ),
        sa.CheckConstraint(
            "track_days IS NULL OR track_days > 0",
            name=op.f("ck_referral_partners_track_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_referral_partners_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["referral_partners.id"],
            name=op.f("fk_referral_partners_parent_id_referral_partners"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_partners")),
        sa.UniqueConstraint("code_key", name=op.f("uq_referral_partners_code_key")),
        sa.UniqueConstraint("contact_id", name=op.f("uq_referral_partners_contact_id")),
    )
    op.create_index(
        op.f("ix_referral_partners_parent_id"), "referral_partners", ["parent_id"]
    )

    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("referred_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_referrals_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_referrals_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["referral_partners.id"],
            name=op.f("fk_referrals_partner_id_referral_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
    )
    op.create_index(op.f("ix_referrals_contact_id"), "referrals", ["contact_id"])
    op.create_index(op.f("ix_referrals_partner_id"), "referrals", ["partner_id"])

    settings = op.create_table(
        "partner_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("credit", sa.String(length=10), nullable=False),
        sa.Column("use_history", sa.Boolean(), nullable=False),
        sa.Column("landing_url", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_settings")),
    )
    op.bulk_insert(settings, [{"id": 1, "credit": "latest", "use_history": True}])

    op.create_table(
        "tracking_destinations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_destinations")),
        sa.UniqueConstraint("prefix", name=op.f("uq_tracking_destinations_prefix")),
    )

    op.create_table(
        "commission_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("rule_key", sa.String(length=30), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("percent", sa.Numeric(precision=7, scale=4), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "(kind = 'percent' AND percent IS NOT NULL AND percent >= 0"
            " AND percent <= 100) OR (kind = 'fixed' AND amount IS NOT NULL"
            " AND amount >= 0 AND currency IS NOT NULL)",
            name=op.f("ck_commission_rules_kind_values"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["referral_partners.id"],
            name=op.f("fk_commission_rules_partner_id_referral_partners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_rules")),
        sa.UniqueConstraint("rule_key", name=op.f("uq_commission_rules_rule_key")),
    )

    op.create_table(
        "commissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("basis", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("earn_key", sa.String(length=40), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["referral_partners.id"],
            name=op.f("fk_commissions_partner_id_referral_partners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["commissions.id"],
            name=op.f("fk_commissions_reverses_id_commissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["commission_rules.id"],
            name=op.f("fk_commissions_rule_id_commission_rules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commissions")),
        sa.UniqueConstraint("earn_key", name=op.f("uq_commissions_earn_key")),
    )
    op.create_index(op.f("ix_commissions_order_id"), "commissions", ["order_id"])
    op.create_index(op.f("ix_commissions_partner_id"), "commissions", ["partner_id"])
    op.create_index(op.f("ix_commissions_reverses_id"), "commissions", ["reverses_id"])


def downgrade():
    op.drop_index(op.f("ix_commissions_reverses_id"), table_name="commissions")
    op.drop_index(op.f("ix_commissions_partner_id"), table_name="commissions")
    op.drop_index(op.f("ix_commissions_order_id"), table_name="commissions")
    op.drop_table("commissions")
    op.drop_table("commission_rules")
    op.drop_table("tracking_destinations")
    op.drop_table("partner_settings")
    op.drop_index(op.f("ix_referrals_partner_id"), table_name="referrals")
    op.drop_index(op.f("ix_referrals_contact_id"), table_name="referrals")
    op.drop_table("referrals")
    op.drop_index(
        op.f("ix_referral_partners_parent_id"), table_name="referral_partners"
    )
    op.drop_table("referral_partners")
