"""invoices as documents: issuer fields, product tax rates, frozen issuer and
lines, legal numbers per issuer and year (document_sequences)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import Rate

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legal_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("address", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("registration_number", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("vat_number", sa.String(length=50), nullable=True))
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tax_rate", Rate(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.create_check_constraint(op.f("ck_products_tax_rate"), "tax_rate >= 0")
    # Documents issued so far keep their references: an issued number is never
    # rewritten. Their issuer and lines are unknown (None): they print the
    # organization as it is now and one line of their total.
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.alter_column(
            "reference", existing_type=sa.String(length=40), type_=sa.String(length=120)
        )
        batch_op.add_column(sa.Column("issuer", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("lines", sa.JSON(), nullable=True))
    op.create_table(
        "document_sequences",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_document_sequences_organization_id_organizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id", "kind", "year", name=op.f("pk_document_sequences")
        ),
    )


def downgrade() -> None:
    op.drop_table("document_sequences")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("lines")
        batch_op.drop_column("issuer")
        batch_op.alter_column(
            "reference", existing_type=sa.String(length=120), type_=sa.String(length=40)
        )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_products_tax_rate"), type_="check")
        batch_op.drop_column("tax_rate")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("vat_number")
        batch_op.drop_column("registration_number")
        batch_op.drop_column("address")
        batch_op.drop_column("legal_name")
