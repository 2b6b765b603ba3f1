"""Fill the database with sample contacts: ``python -m {{ cookiecutter.package_name }}.seed [--count N] [--reset]``.

``make seed`` runs it so the CRUD sample has a few hundred rows to page,
sort and search. The rows come from a fixed random seed and small built-in
word lists: the same every time, on every machine, with no network. Each
contact is known by its email, so running it again adds only the rows not
there yet (a larger ``--count`` extends the same sequence); ``--reset``
deletes every contact first.
"""

import argparse
import asyncio
import random
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError

from .db import Database, create_engine
from .models import SCORE_MAX, SCORE_MIN, Contact, Status
from .settings import Settings, SettingsError, get_settings

DEFAULT_COUNT = 300
MAX_COUNT = 100_000
RANDOM_SEED = 2024
VIP_SHARE = 0.1
NO_DATE_SHARE = 0.2  # contacts whose "since" is unknown
FIRST_DAY = date(2012, 1, 1)
DAYS = 365 * 12
STATUS_WEIGHTS = {Status.LEAD: 6, Status.CUSTOMER: 3, Status.PARTNER: 1}

FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ana", "Ben", "Chen", "Clara", "Daniel", "Elena", "Emeka",
    "Fatima", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jonas", "Julia", "Kenji", "Lars",
    "Leila", "Lucas", "Maya", "Mateo", "Nadia", "Noah", "Olga", "Omar", "Priya", "Rafael",
    "Sara", "Sofia", "Tariq", "Tomas", "Uma", "Victor", "Wen", "Yara", "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Abe", "Alvarez", "Berg", "Brown", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia",
    "Haddad", "Ito", "Jansen", "Kim", "Kowalski", "Larsen", "Lopez", "Mensah", "Moreau",
    "Müller", "Nakamura", "Novak", "Okafor", "Olsen", "Patel", "Petrov", "Quinn", "Rossi",
    "Santos", "Schmidt", "Silva", "Singh", "Tanaka", "Turner", "Varga", "Wagner", "Wang",
    "Weber", "Xu", "Yilmaz", "Zhang",
)  # fmt: skip
COMPANY_WORDS = (
    "Acorn", "Amber", "Atlas", "Beacon", "Birch", "Cedar", "Cobalt", "Harbor", "Juniper",
    "Lumen", "Maple", "Meridian", "Nimbus", "North", "Orchid", "Pioneer", "Quarry", "River",
    "Summit", "Tide",
)  # fmt: skip
COMPANY_KINDS = ("Labs", "Logistics", "Foods", "Studio", "Systems", "Health", "Energy", "Media")
DOMAINS = ("example.com", "example.org", "example.net")  # reserved: no mail ever leaves


def _ascii(word: str) -> str:
    """The word as an email's local part can hold it (Müller: muller)."""
    return word.lower().replace("ü", "u")


def sample_contacts(count: int, seed: int = RANDOM_SEED) -> list[Contact]:
    """The first ``count`` contacts of the sequence ``seed`` determines; emails are unique."""
    rng = random.Random(seed)
    statuses, weights = list(STATUS_WEIGHTS), list(STATUS_WEIGHTS.values())
    emails: set[str] = set()
    contacts = []
    for number in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{_ascii(first)}.{_ascii(last)}@{rng.choice(DOMAINS)}"
        if email in emails:
            email = email.replace("@", f"{number}@")
        emails.add(email)
        since = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        contacts.append(
            Contact(
                name=f"{first} {last}",
                email=email,
                company=f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)}",
                status=rng.choices(statuses, weights)[0].value,
                score=rng.randint(SCORE_MIN, SCORE_MAX),
                since=None if rng.random() < NO_DATE_SHARE else since,
                vip=rng.random() < VIP_SHARE,
            )
        )
    return contacts


async def seed(database: Database, count: int, reset: bool = False) -> int:
    """Add the first ``count`` sample contacts not in the table yet; return how many were added."""
    async with database.session() as session:
        if reset:
            await session.execute(delete(Contact))
        existing = set(await session.scalars(select(Contact.email)))
        new = [contact for contact in sample_contacts(count) if contact.email not in existing]
        session.add_all(new)
    return len(new)


async def count_contacts(database: Database) -> int:
    """How many contacts the table holds."""
    async with database.session() as session:
        return await session.scalar(select(func.count()).select_from(Contact)) or 0


def _count(text: str) -> int:
    """Parse ``--count``: a whole number from 0 to MAX_COUNT."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text[:40]!r}") from None
    if not 0 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_COUNT}, not {value}")
    return value


async def _run(settings: Settings, count: int, reset: bool) -> tuple[int, int]:
    """Seed the app's database; return (added, total). No SQL echo, even in debug mode."""
    database = Database(create_engine(settings.database_url))
    try:
        added = await seed(database, count, reset)
        return added, await count_contacts(database)
    finally:
        await database.dispose()


def main(argv: Sequence[str] | None = None) -> None:
    """Seed the app's database and say how many contacts it added."""
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.package_name }}.seed", description="Add sample contacts."
    )
    parser.add_argument(
        "--count",
        type=_count,
        default=DEFAULT_COUNT,
        help=f"how many sample contacts (default {DEFAULT_COUNT})",
    )
    parser.add_argument("--reset", action="store_true", help="delete every contact first")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as error:
        raise SystemExit(f"error: {error}") from None
    try:
        added, total = asyncio.run(_run(settings, args.count, args.reset))
    except (OSError, DBAPIError) as error:
        first_line = str(error).splitlines()[0][:200]
        raise SystemExit(f"error: cannot seed (run `make migrate` first?): {first_line}") from None
    print(f"added {added} contacts, {total} in total")


if __name__ == "__main__":
    main()
