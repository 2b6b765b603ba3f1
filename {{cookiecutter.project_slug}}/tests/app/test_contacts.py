"""The contacts resource: the database enforces its rules, and the seed command fills it."""

import asyncio
import gc
import os
import subprocess
import sys
import weakref
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from {{ cookiecutter.package_name }} import contacts
from {{ cookiecutter.package_name }}.contacts import (
    ContactIn,
    PagingParams,
    SharedPages,
    StaleContact,
    save_contact,
)
from {{ cookiecutter.package_name }}.db import Database
from {{ cookiecutter.package_name }}.live.testing import scaled
from {{ cookiecutter.package_name }}.models import Contact
from {{ cookiecutter.package_name }}.seed import count_contacts, sample_contacts, seed

from conftest import with_tables

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def fields(contact: Contact) -> tuple[object, ...]:
    """What a sample contact holds, for comparing two runs."""
    return (
        contact.name,
        contact.email,
        contact.company,
        contact.status,
        contact.score,
        contact.since,
        contact.vip,
    )


async def test_a_contact_gets_its_defaults(database: Database) -> None:
    async with database.session() as session:
        session.add(Contact(name="Ada Lovelace", email="ada@example.com"))
    async with database.session() as session:
        contact = (await session.scalars(select(Contact))).one()

    assert (contact.company, contact.status, contact.score, contact.since, contact.vip) == (
        "",
        "lead",
        0,
        None,
        False,
    )
    assert contact.created_at is not None and contact.updated_at is not None


async def test_email_is_unique(database: Database) -> None:
    async with database.session() as session:
        session.add(Contact(name="Ada", email="ada@example.com"))

    with pytest.raises(IntegrityError):
        async with database.session() as session:
            session.add(Contact(name="Another Ada", email="ada@example.com"))


@pytest.mark.parametrize(
    "values",
    [{"status": "boss"}, {"status": ""}, {"score": -1}, {"score": 101}],
    ids=["unknown status", "empty status", "score below 0", "score above 100"],
)
async def test_checks_refuse_bad_values(database: Database, values: dict[str, object]) -> None:
    with pytest.raises(IntegrityError, match="ck_contacts_|CHECK"):
        async with database.session() as session:
            session.add(Contact(name="Ada", email="ada@example.com", **values))


async def test_checks_accept_the_bounds(database: Database) -> None:
    async with database.session() as session:
        session.add(Contact(name="Low", email="low@example.com", score=0, status="customer"))
        session.add(Contact(name="High", email="high@example.com", score=100, status="partner"))

    assert await count_contacts(database) == 2


async def test_updated_at_changes_on_update(database: Database) -> None:
    async with database.session() as session:
        session.add(
            Contact(name="Ada", email="ada@example.com", created_at=LONG_AGO, updated_at=LONG_AGO)
        )
    async with database.session() as session:
        contact = (await session.scalars(select(Contact))).one()
        contact.score = 42
    async with database.session() as session:
        row = (await session.execute(select(Contact.created_at, Contact.updated_at))).one()

    assert row.created_at.year == 2000
    assert row.updated_at.year > 2000


async def test_updated_at_changes_on_an_update_statement_too(database: Database) -> None:
    """SQLAlchemy sets it (``onupdate``) on Core UPDATEs as on ORM flushes; raw SQL does not."""
    async with database.session() as session:
        session.add(Contact(name="Ada", email="ada@example.com", updated_at=LONG_AGO))
    async with database.session() as session:
        await session.execute(update(Contact).values(score=7))
        updated_at = await session.scalar(select(Contact.updated_at))

    assert updated_at is not None and updated_at.year > 2000


async def test_a_save_over_a_version_someone_saved_since_is_refused(database: Database) -> None:
    async with database.session() as session:
        ada = await save_contact(session, ContactIn(name="Ada", email="ada@example.com"))
        contact_id, loaded = ada.id, ada.version
    assert loaded == 1
    async with database.session() as session:  # someone else saves first
        saved = await save_contact(
            session, ContactIn(name="Ada", email="ada@example.com", company="Initech"), contact_id
        )
        assert saved.version == 2

    mine = ContactIn(name="Ada", email="ada@example.com", score=55)
    with pytest.raises(StaleContact):
        async with database.session() as session:
            await save_contact(session, mine, contact_id, loaded)
    async with database.session() as session:
        contact = await session.get(Contact, contact_id)
        assert contact is not None and (contact.company, contact.score) == ("Initech", 0)


async def test_of_two_saves_racing_over_one_version_the_second_is_refused(
    database: Database,
) -> None:
    """Both read version 1; the UPDATE checks it, so the second to write is told."""
    async with database.session() as session:
        contact_id = (await save_contact(session, ContactIn(name="Ada", email="a@example.com"))).id
    async with database.session() as first, database.session() as second:
        mine = await first.get(Contact, contact_id)
        theirs = await second.get(Contact, contact_id)
        assert mine is not None and theirs is not None
        mine.score, theirs.company = 55, "Initech"
        await first.commit()
        with pytest.raises(StaleDataError):
            await second.flush()


async def rename(database: Database, name: str) -> None:
    async with database.session() as session:
        await session.execute(update(Contact).values(name=name))


async def test_lists_share_one_read_of_a_page_per_change(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked at once or one after the other, for one change: one read of each page. A change
    not heard of before is a new read, that shows it; so is a read older than ``since``."""
    reads: list[PagingParams] = []
    list_contacts = contacts.list_contacts

    async def counted(session: AsyncSession, paging: PagingParams) -> contacts.Page:
        reads.append(paging)
        return await list_contacts(session, paging)

    monkeypatch.setattr(contacts, "list_contacts", counted)
    async with database.session() as session:
        session.add(Contact(name="Ada Lovelace", email="ada@example.com"))
    pages = SharedPages()
    first, scored = PagingParams(), PagingParams(sort="score")

    async def name(paging: PagingParams, change: str, since: float = 0.0) -> str:
        read = await pages.page(database, paging, change, since)
        return str(read.page.rows[0]["name"])

    together = await asyncio.gather(*(name(first, "one") for _ in range(5)))
    after = await name(PagingParams(sort="name"), "one")  # an equal paging
    assert {*together, after} == {"Ada Lovelace"}
    await name(scored, "one")
    assert [paging.sort for paging in reads] == ["name", "score"]

    await rename(database, "Grace Hopper")
    heard = await pages.page(database, first, "two")
    assert heard.page.rows[0]["name"] == "Grace Hopper" and len(reads) == 3
    assert await pages.page(database, first, "one") == heard  # an older change: read since
    await rename(database, "Ada Lovelace")  # a change this list read on its own, say
    assert await name(first, "two", since=heard.done + 1) == "Ada Lovelace"
    assert len(reads) == 4


async def test_a_shared_read_that_failed_is_tried_again_by_the_next_list(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing = True
    list_contacts = contacts.list_contacts

    async def flaky(session: AsyncSession, paging: PagingParams) -> contacts.Page:
        if failing:
            raise OperationalError("SELECT", {}, Exception("the database is away"))
        return await list_contacts(session, paging)

    monkeypatch.setattr(contacts, "list_contacts", flaky)
    pages = SharedPages()
    results = await asyncio.gather(
        *(pages.page(database, PagingParams(), "one") for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(result, OperationalError) for result in results)
    failing = False
    assert (await pages.page(database, PagingParams(), "one")).page.total == 0


async def test_the_pages_shared_for_a_database_go_with_it(database_url: str) -> None:
    database = await with_tables(database_url)
    await contacts.shared_page(database, PagingParams(), "one")
    await database.dispose()
    gone = weakref.ref(database)
    del database
    gc.collect()
    assert gone() is None


def test_samples_are_deterministic_unique_and_valid() -> None:
    first, again = sample_contacts(300), sample_contacts(300)

    assert [fields(c) for c in first] == [fields(c) for c in again]
    assert [fields(c) for c in sample_contacts(20)] == [fields(c) for c in first[:20]]
    assert len({contact.email for contact in first}) == 300
    assert {contact.status for contact in first} == {"lead", "customer", "partner"}
    assert all(0 <= contact.score <= 100 for contact in first)
    assert {contact.vip for contact in first} == {True, False}
    assert any(contact.since is None for contact in first)


async def test_seed_fills_count_rows_once(database: Database) -> None:
    assert await seed(database, 50) == 50
    assert await count_contacts(database) == 50

    assert await seed(database, 50) == 0  # nothing duplicated
    assert await seed(database, 80) == 30  # a larger count extends the same sequence
    assert await count_contacts(database) == 80


async def test_seed_reset_starts_over(database: Database) -> None:
    async with database.session() as session:
        session.add(Contact(name="Mine", email="mine@example.com"))
    await seed(database, 30)

    assert await seed(database, 10, reset=True) == 10

    async with database.session() as session:
        emails = list(await session.scalars(select(Contact.email).order_by(Contact.id)))
    assert emails == [contact.email for contact in sample_contacts(10)]


def run_seed(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <package>.seed`` against ``database_url``, as ``make seed`` does."""
    return subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}.seed", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "test"},
        capture_output=True,
        text=True,
        timeout=scaled(120.0),
    )


@pytest.mark.slow
async def test_seed_command(database: Database, database_url: str) -> None:
    result = run_seed(database_url, "--count", "20")

    assert (result.returncode, result.stdout) == (0, "added 20 contacts, 20 in total\n")
    assert await count_contacts(database) == 20


@pytest.mark.slow
@pytest.mark.parametrize("count", ["-1", "ten", "100001"])
def test_seed_command_refuses_a_bad_count(count: str, tmp_path: Path) -> None:
    result = run_seed(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", "--count", count)

    assert result.returncode == 2
    assert "--count" in result.stderr
    assert not (tmp_path / "unused.db").exists()


@pytest.mark.slow
def test_seed_command_says_to_migrate_first(tmp_path: Path) -> None:
    result = run_seed(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")

    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot seed (run `make migrate` first?)")
