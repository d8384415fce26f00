"""catalogue, deep links and users

Revision ID: 0001
Revises:
Create Date: 2026-11-21 11:42:54.784901
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "courses",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
        sa.UniqueConstraint("code", name=op.f("uq_courses_code")),
    )
    op.create_table(
        "organizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("signatories", sa.JSON(), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("code", name=op.f("uq_organizations_code")),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("price", models.base.Money(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("contract_required", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "type IN ('credential', 'certificate', 'enrollment', 'membership')",
            name=op.f("ck_products_type"),
        ),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_products_currency")),
        sa.CheckConstraint("price >= 0", name=op.f("ck_products_price_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("id", "type", name=op.f("uq_products_id_type")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "course_organizations",
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_course_organizations_course_id_courses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_course_organizations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "course_id", "organization_id", name=op.f("pk_course_organizations")
        ),
    )
    op.create_table(
        "course_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("start", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("enrollment_start", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("enrollment_end", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            '"start" IS NULL OR "end" IS NULL OR "start" <= "end"',
            name=op.f("ck_course_runs_dates"),
        ),
        sa.CheckConstraint(
            "enrollment_start IS NULL OR enrollment_end IS NULL OR enrollment_start <= enrollment_end",
            name=op.f("ck_course_runs_enrollment_dates"),
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_course_runs_course_id_courses"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_runs")),
    )
    with op.batch_alter_table("course_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_runs_course_id"), ["course_id"], unique=False)

    op.create_table(
        "offerings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("course_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("product_type", sa.String(length=20), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["course_id"],
            ["courses.id"],
            name=op.f("fk_offerings_course_id_courses"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id", "product_type"],
            ["products.id", "products.type"],
            name="fk_offerings_product_type",
            onupdate="CASCADE",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offerings")),
        sa.UniqueConstraint(
            "course_id", "product_id", name=op.f("uq_offerings_course_id_product_id")
        ),
        sa.UniqueConstraint("id", "product_type", name=op.f("uq_offerings_id_product_type")),
    )
    with op.batch_alter_table("offerings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offerings_course_id"), ["course_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_offerings_product_id"), ["product_id"], unique=False)

    op.create_table(
        "offering_organizations",
        sa.Column("offering_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["offerings.id"],
            name=op.f("fk_offering_organizations_offering_id_offerings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_offering_organizations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "offering_id", "organization_id", name=op.f("pk_offering_organizations")
        ),
    )
    with op.batch_alter_table("offering_organizations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_offering_organizations_organization_id"),
            ["organization_id"],
            unique=False,
        )

    op.create_table(
        "product_target_course_runs",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("course_run_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course_run_id"],
            ["course_runs.id"],
            name=op.f("fk_product_target_course_runs_course_run_id_course_runs"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_target_course_runs_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "product_id", "course_run_id", name=op.f("pk_product_target_course_runs")
        ),
    )
    with op.batch_alter_table("product_target_course_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_product_target_course_runs_course_run_id"),
            ["course_run_id"],
            unique=False,
        )

    op.create_table(
        "offering_deep_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("offering_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("product_type", sa.String(length=20), nullable=False),
        sa.Column("deep_link", sa.String(length=400), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            models.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "lower(substr(deep_link, 1, 7)) = 'http://' OR lower(substr(deep_link, 1, 8)) = 'https://'",
            name=op.f("ck_offering_deep_links_http_url"),
        ),
        sa.CheckConstraint(
            "product_type = 'credential'", name=op.f("ck_offering_deep_links_credential")
        ),
        sa.CheckConstraint(
            "length(deep_link) BETWEEN 1 AND 400",
            name=op.f("ck_offering_deep_links_deep_link_length"),
        ),
        sa.ForeignKeyConstraint(
            ["offering_id", "organization_id"],
            ["offering_organizations.offering_id", "offering_organizations.organization_id"],
            name="fk_offering_deep_links_offering_organization",
        ),
        sa.ForeignKeyConstraint(
            ["offering_id", "product_type"],
            ["offerings.id", "offerings.product_type"],
            name="fk_offering_deep_links_offering_product_type",
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["offering_id"],
            ["offerings.id"],
            name=op.f("fk_offering_deep_links_offering_id_offerings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_offering_deep_links_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offering_deep_links")),
        sa.UniqueConstraint("deep_link", name=op.f("uq_offering_deep_links_deep_link")),
        sa.UniqueConstraint(
            "offering_id",
            "organization_id",
            name=op.f("uq_offering_deep_links_offering_id_organization_id"),
        ),
    )
    with op.batch_alter_table("offering_deep_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_offering_deep_links_active",
            ["offering_id"],
            unique=False,
            postgresql_where=sa.text("is_active"),
            sqlite_where=sa.text("is_active = 1"),
        )
        batch_op.create_index(
            batch_op.f("ix_offering_deep_links_organization_id"), ["organization_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("offering_deep_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offering_deep_links_organization_id"))
        batch_op.drop_index(
            "ix_offering_deep_links_active",
            postgresql_where=sa.text("is_active"),
            sqlite_where=sa.text("is_active = 1"),
        )

    op.drop_table("offering_deep_links")
    with op.batch_alter_table("product_target_course_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_target_course_runs_course_run_id"))

    op.drop_table("product_target_course_runs")
    with op.batch_alter_table("offering_organizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offering_organizations_organization_id"))

    op.drop_table("offering_organizations")
    with op.batch_alter_table("offerings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offerings_product_id"))
        batch_op.drop_index(batch_op.f("ix_offerings_course_id"))

    op.drop_table("offerings")
    with op.batch_alter_table("course_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_runs_course_id"))

    op.drop_table("course_runs")
    op.drop_table("course_organizations")
    op.drop_table("users")
    op.drop_table("products")
    op.drop_table("organizations")
    op.drop_table("courses")
