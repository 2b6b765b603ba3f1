"""Create the contacts table.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``contacts`` and the indexes its list view sorts by."""
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("company", sa.String(length=200), server_default="", nullable=False),
        sa.Column("status", sa.String(length=20), server_default="lead", nullable=False),
        sa.Column("score", sa.Integer(), server_default="0", nullable=False),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("vip", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.UniqueConstraint("email", name="uq_contacts_email"),
        sa.CheckConstraint(
            "status IN ('lead', 'customer', 'partner')", name="ck_contacts_status"
        ),
        sa.CheckConstraint("score BETWEEN 0 AND 100", name="ck_contacts_score"),
        # SQLite would reuse a deleted contact's id: its old links would show another person.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_contacts_name", "contacts", ["name"])
    op.create_index("ix_contacts_created_at", "contacts", ["created_at"])


def downgrade() -> None:
    """Drop ``contacts`` with its indexes."""
    op.drop_index("ix_contacts_created_at", table_name="contacts")
    op.drop_index("ix_contacts_name", table_name="contacts")
    op.drop_table("contacts")
