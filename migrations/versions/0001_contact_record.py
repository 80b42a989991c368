"""contact record

Revision ID: 0001
Revises:

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
        sa.UniqueConstraint("name", name=op.f("uq_companies_name")),
    )
    op.create_table(
        "custom_tabs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("record_type", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_tabs")),
        sa.UniqueConstraint("name", name=op.f("uq_custom_tabs_name")),
    )
    op.create_table(
        "link_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("max_links", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "max_links > 0", name=op.f("ck_link_types_max_links_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_types")),
        sa.UniqueConstraint("name", name=op.f("uq_link_types_name")),
    )
    op.create_table(
        "tag_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_categories")),
        sa.UniqueConstraint("name", name=op.f("uq_tag_categories_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("locale", sa.String(length=10), nullable=True),
        sa.Column("session_token", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=20), nullable=True),
        sa.Column("given_name", sa.String(length=40), nullable=True),
        sa.Column("middle_name", sa.String(length=100), nullable=True),
        sa.Column("family_name", sa.String(length=40), nullable=True),
        sa.Column("suffix", sa.String(length=20), nullable=True),
        sa.Column("preferred_name", sa.String(length=100), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("job_title", sa.String(length=255), nullable=True),
        sa.Column("website", sa.String(length=100), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("contact_type", sa.String(length=50), nullable=True),
        sa.Column("lead_source", sa.String(length=255), nullable=True),
        sa.Column("source_type", sa.String(length=20), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("preferred_locale", sa.String(length=10), nullable=True),
        sa.Column("birthday", sa.Date(), nullable=True),
        sa.Column("anniversary", sa.Date(), nullable=True),
        sa.Column("spouse_name", sa.String(length=100), nullable=True),
        sa.Column("assistant_name", sa.String(length=20), nullable=True),
        sa.Column("assistant_phone", sa.String(length=15), nullable=True),
        sa.Column("referral_code", sa.String(length=100), nullable=True),
        sa.Column("billing_information", sa.String(length=100), nullable=True),
        sa.Column("person_notes", sa.Text(), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("country_code", sa.String(length=3), nullable=True),
        sa.Column("primary_email", sa.String(length=254), nullable=True),
        sa.Column("primary_phone", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_contacts_company_id_companies"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_contacts_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_contacts_owner_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_contacts_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contacts_company_id"), ["company_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contacts_contact_type"), ["contact_type"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contacts_country_code"), ["country_code"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contacts_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contacts_family_name"), ["family_name"], unique=False
        )
        batch_op.create_index(
            "ix_contacts_owner_family", ["owner_id", "family_name"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contacts_owner_id"), ["owner_id"], unique=False
        )

    op.create_table(
        "custom_headers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tab_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tab_id"],
            ["custom_tabs.id"],
            name=op.f("fk_custom_headers_tab_id_custom_tabs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_headers")),
    )
    with op.batch_alter_table("custom_headers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_custom_headers_tab_id"), ["tab_id"], unique=False
        )

    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["tag_categories.id"],
            name=op.f("fk_tags_category_id_tag_categories"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
    )
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tags_category_id"), ["category_id"], unique=False
        )

    op.create_table(
        "contact_addresses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("line1", sa.String(length=100), nullable=True),
        sa.Column("line2", sa.String(length=100), nullable=True),
        sa.Column("locality", sa.String(length=100), nullable=True),
        sa.Column("region", sa.String(length=50), nullable=True),
        sa.Column("postal_code", sa.String(length=20), nullable=True),
        sa.Column("zip_four", sa.String(length=10), nullable=True),
        sa.Column("country_code", sa.String(length=3), nullable=True),
        sa.CheckConstraint(
            "kind IN ('billing', 'shipping', 'other')",
            name=op.f("ck_contact_addresses_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_addresses_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_addresses")),
        sa.UniqueConstraint(
            "contact_id", "kind", name=op.f("uq_contact_addresses_contact_id_kind")
        ),
    )
    with op.batch_alter_table("contact_addresses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_addresses_contact_id"), ["contact_id"], unique=False
        )

    op.create_table(
        "contact_emails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("normalized", sa.String(length=254), nullable=False),
        sa.CheckConstraint(
            "slot BETWEEN 1 AND 3", name=op.f("ck_contact_emails_slot_range")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_emails_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_emails")),
        sa.UniqueConstraint(
            "contact_id", "slot", name=op.f("uq_contact_emails_contact_id_slot")
        ),
    )
    with op.batch_alter_table("contact_emails", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_emails_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contact_emails_normalized"), ["normalized"], unique=False
        )

    op.create_table(
        "contact_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact1_id", sa.Integer(), nullable=False),
        sa.Column("contact2_id", sa.Integer(), nullable=False),
        sa.Column("link_type_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "contact1_id <> contact2_id", name=op.f("ck_contact_links_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["contact1_id"],
            ["contacts.id"],
            name=op.f("fk_contact_links_contact1_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact2_id"],
            ["contacts.id"],
            name=op.f("fk_contact_links_contact2_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_contact_links_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["link_type_id"],
            ["link_types.id"],
            name=op.f("fk_contact_links_link_type_id_link_types"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_links")),
        sa.UniqueConstraint(
            "contact1_id",
            "contact2_id",
            "link_type_id",
            name=op.f("uq_contact_links_contact1_id_contact2_id_link_type_id"),
        ),
    )
    with op.batch_alter_table("contact_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_links_contact1_id"), ["contact1_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contact_links_contact2_id"), ["contact2_id"], unique=False
        )

    op.create_table(
        "contact_phones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=5), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("e164", sa.String(length=20), nullable=True),
        sa.Column("extension", sa.String(length=20), nullable=True),
        sa.Column("type", sa.String(length=30), nullable=True),
        sa.CheckConstraint(
            "kind IN ('phone', 'fax')", name=op.f("ck_contact_phones_kind")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_phones_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_phones")),
        sa.UniqueConstraint(
            "contact_id",
            "kind",
            "slot",
            name=op.f("uq_contact_phones_contact_id_kind_slot"),
        ),
    )
    with op.batch_alter_table("contact_phones", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_phones_contact_id"), ["contact_id"], unique=False
        )

    op.create_table(
        "contact_tags",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=False),
        sa.Column("applied_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["applied_by_id"],
            ["users.id"],
            name=op.f("fk_contact_tags_applied_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_tags_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"],
            ["tags.id"],
            name=op.f("fk_contact_tags_tag_id_tags"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "tag_id", name=op.f("pk_contact_tags")),
    )
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contact_tags_tag_contact", ["tag_id", "contact_id"], unique=False
        )

    op.create_table(
        "custom_fields",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("header_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("field_name", sa.String(length=100), nullable=False),
        sa.Column("field_type", sa.String(length=20), nullable=False),
        sa.Column("options", sa.Text(), nullable=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["header_id"],
            ["custom_headers.id"],
            name=op.f("fk_custom_fields_header_id_custom_headers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_fields")),
        sa.UniqueConstraint("field_name", name=op.f("uq_custom_fields_field_name")),
    )
    with op.batch_alter_table("custom_fields", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_custom_fields_header_id"), ["header_id"], unique=False
        )

    op.create_table(
        "social_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_social_accounts_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_accounts")),
    )
    with op.batch_alter_table("social_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_social_accounts_contact_id"), ["contact_id"], unique=False
        )

    op.create_table(
        "custom_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("field_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_custom_values_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["field_id"],
            ["custom_fields.id"],
            name=op.f("fk_custom_values_field_id_custom_fields"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_values")),
        sa.UniqueConstraint(
            "contact_id", "field_id", name=op.f("uq_custom_values_contact_id_field_id")
        ),
    )
    with op.batch_alter_table("custom_values", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_custom_values_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_custom_values_field_id"), ["field_id"], unique=False
        )

    _create_search_index()


def _create_search_index():
    """A trigram index for substring search over contacts.search_text."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE contact_search USING fts5("
            "search_text, content='contacts', content_rowid='id', "
            "tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER contacts_search_insert AFTER INSERT ON contacts BEGIN "
            "INSERT INTO contact_search(rowid, search_text) "
            "VALUES (new.id, new.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER contacts_search_delete AFTER DELETE ON contacts BEGIN "
            "INSERT INTO contact_search(contact_search, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); END"
        )
        op.execute(
            "CREATE TRIGGER contacts_search_update AFTER UPDATE OF search_text "
            "ON contacts BEGIN "
            "INSERT INTO contact_search(contact_search, rowid, search_text) "
            "VALUES ('delete', old.id, old.search_text); "
            "INSERT INTO contact_search(rowid, search_text) "
            "VALUES (new.id, new.search_text); END"
        )
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_contacts_search_trgm ON contacts "
            "USING gin (search_text gin_trgm_ops)"
        )


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS contacts_search_{trigger}")
        op.execute("DROP TABLE IF EXISTS contact_search")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_contacts_search_trgm")
    with op.batch_alter_table("custom_values", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_custom_values_field_id"))
        batch_op.drop_index(batch_op.f("ix_custom_values_contact_id"))

    op.drop_table("custom_values")
    with op.batch_alter_table("social_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_social_accounts_contact_id"))

    op.drop_table("social_accounts")
    with op.batch_alter_table("custom_fields", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_custom_fields_header_id"))

    op.drop_table("custom_fields")
    with op.batch_alter_table("contact_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_tags_tag_contact")

    op.drop_table("contact_tags")
    with op.batch_alter_table("contact_phones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_phones_contact_id"))

    op.drop_table("contact_phones")
    with op.batch_alter_table("contact_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_links_contact2_id"))
        batch_op.drop_index(batch_op.f("ix_contact_links_contact1_id"))

    op.drop_table("contact_links")
    with op.batch_alter_table("contact_emails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_emails_normalized"))
        batch_op.drop_index(batch_op.f("ix_contact_emails_contact_id"))

    op.drop_table("contact_emails")
    with op.batch_alter_table("contact_addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_addresses_contact_id"))

    op.drop_table("contact_addresses")
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tags_category_id"))

    op.drop_table("tags")
    with op.batch_alter_table("custom_headers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_custom_headers_tab_id"))

    op.drop_table("custom_headers")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_owner_id"))
        batch_op.drop_index("ix_contacts_owner_family")
        batch_op.drop_index(batch_op.f("ix_contacts_family_name"))
        batch_op.drop_index(batch_op.f("ix_contacts_created_at"))
        batch_op.drop_index(batch_op.f("ix_contacts_country_code"))
        batch_op.drop_index(batch_op.f("ix_contacts_contact_type"))
        batch_op.drop_index(batch_op.f("ix_contacts_company_id"))

    op.drop_table("contacts")
    op.drop_table("users")
    op.drop_table("tag_categories")
    op.drop_table("link_types")
    op.drop_table("custom_tabs")
    op.drop_table("companies")
