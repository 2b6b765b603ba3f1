"""The app's tables. Alembic compares these with the database to write migrations."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base


class Item(Base):
    """A named thing with a description: the subject of the CRUD sample."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class Status(StrEnum):
    """Where a contact stands with us; stored as its text, checked by the database."""

    LEAD = "lead"
    CUSTOMER = "customer"
    PARTNER = "partner"


SCORE_MIN = 0
SCORE_MAX = 100
_STATUSES = ", ".join(f"'{status}'" for status in Status)


class Contact(Base):
    """A person we deal with: the resource of the CRUD sample.

    A plain string with a CHECK (not a native enum) keeps SQLite and
    PostgreSQL alike, and adding a status a one-line migration.
    """

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("email", name="uq_contacts_email"),
        CheckConstraint(f"status IN ({_STATUSES})", name="ck_contacts_status"),
        CheckConstraint(f"score BETWEEN {SCORE_MIN} AND {SCORE_MAX}", name="ck_contacts_score"),
        # What the list view sorts and searches by.
        Index("ix_contacts_name", "name"),
        Index("ix_contacts_created_at", "created_at"),
        # SQLite would reuse a deleted contact's id: its old links would show another person.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    company: Mapped[str] = mapped_column(String(200), default="", server_default="")
    status: Mapped[str] = mapped_column(
        String(20), default=Status.LEAD.value, server_default=Status.LEAD.value
    )
    score: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    since: Mapped[date | None] = mapped_column(Date)
    vip: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    # Counts the contact's saves: an UPDATE checks the version it read (SQLAlchemy's
    # version counter), so a save made from a stale form is refused, not silently last.
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __mapper_args__ = {"version_id_col": version}


class Attachment(Base):
    """A file attached to a contact. The file is ``stored_name`` in the media folder;
    ``filename`` is the name it was uploaded with, for display only."""

    __tablename__ = "attachments"
    __table_args__ = (
        UniqueConstraint("stored_name", name="uq_attachments_stored_name"),
        Index("ix_attachments_contact_id", "contact_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    stored_name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
