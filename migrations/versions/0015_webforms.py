"""web forms: forms, their fields and tags, submissions, product checkouts, purchases

Revision ID: 0015_webforms
Revises: 0013

"""

import sqlalchemy as sa
from alembic import op

revision = "0015_webforms"
down_revision = "0016_web_behaviour_files"
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
        "webforms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("intro", sa.Text(), nullable=False),
        sa.Column("submit_label", sa.String(length=60), nullable=False),
        sa.Column("duplicate_rule", sa.String(length=20), nullable=False),
        sa.Column("double_opt_in", sa.Boolean(), nullable=False),
        sa.Column("min_fill_seconds", sa.Integer(), nullable=False),
        sa.Column("exit", sa.String(length=10), nullable=False),
        sa.Column("thank_you", sa.Text(), nullable=False),
        sa.Column("redirect_url", sa.String(length=2000), nullable=False),
        sa.Column("allowed_urls", sa.Text(), nullable=False),
        sa.Column("notify_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("webforms", "notify_user_id", "users", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webforms")),
        sa.UniqueConstraint("name", name=op.f("uq_webforms_name")),
        sa.UniqueConstraint("slug", name=op.f("uq_webforms_slug")),
    )
    op.create_table(
        "webform_fields",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("fixed_value", sa.String(length=255), nullable=False),
        sa.Column("overwrite", sa.Boolean(), nullable=False),
        _fk("webform_fields", "form_id", "webforms", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webform_fields")),
        sa.UniqueConstraint(
            "form_id", "key", name=op.f("uq_webform_fields_form_id_key")
        ),
    )
    op.create_index(
        op.f("ix_webform_fields_form_id"), "webform_fields", ["form_id"], unique=False
    )
    op.create_table(
        "webform_tags",
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        _fk("webform_tags", "form_id", "webforms", "CASCADE"),
        _fk("webform_tags", "tag_id", "tags", "CASCADE"),
        sa.PrimaryKeyConstraint("form_id", "tag_id", name=op.f("pk_webform_tags")),
    )
    op.create_table(
        "webform_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("hold_reason", sa.String(length=40), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=False),
        sa.Column("page_url", sa.String(length=2000), nullable=False),
        sa.Column("utm", sa.JSON(), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("referral_cookie", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("processed_at", sa.DateTime(), nullable=True),
        _fk("webform_submissions", "form_id", "webforms", "CASCADE"),
        _fk("webform_submissions", "contact_id", "contacts", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webform_submissions")),
    )
    op.create_index(
        op.f("ix_webform_submissions_contact_id"),
        "webform_submissions",
        ["contact_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_webform_submissions_state"),
        "webform_submissions",
        ["state"],
        unique=False,
    )
    op.create_index(
        "ix_webform_submissions_ip_at",
        "webform_submissions",
        ["ip", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_webform_submissions_form_at",
        "webform_submissions",
        ["form_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "product_checkouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("max_quantity", sa.Integer(), nullable=False),
        sa.Column("ask_shipping", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("product_checkouts", "product_id", "products", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_checkouts")),
        sa.UniqueConstraint("product_id", name=op.f("uq_product_checkouts_product_id")),
        sa.UniqueConstraint("slug", name=op.f("uq_product_checkouts_slug")),
    )
    op.create_table(
        "purchases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("checkout_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("purchases", "checkout_id", "product_checkouts", "CASCADE"),
        _fk("purchases", "contact_id", "contacts", "CASCADE"),
        _fk("purchases", "order_id", "orders", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchases")),
        sa.UniqueConstraint("key", name=op.f("uq_purchases_key")),
    )
    op.create_index(
        op.f("ix_purchases_checkout_id"), "purchases", ["checkout_id"], unique=False
    )
    op.create_index(
        op.f("ix_purchases_contact_id"), "purchases", ["contact_id"], unique=False
    )


def downgrade():
    op.drop_table("purchases")
    op.drop_table("product_checkouts")
    op.drop_table("webform_submissions")
    op.drop_table("webform_tags")
    op.drop_table("webform_fields")
    op.drop_table("webforms")
