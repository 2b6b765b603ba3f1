"""``Flag``: asyncio.Event's set, clear and wait, holding no queue of waiters when none waits."""

from __future__ import annotations

import asyncio

from {{ cookiecutter.package_name }}.live.flag import Flag


async def test_setting_wakes_every_waiter_even_if_cleared_before_they_run() -> None:
    flag = Flag()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await asyncio.sleep(0)  # they wait
    assert not any(waiter.done() for waiter in waiters)
    flag.set()
    flag.clear()
    await asyncio.gather(*waiters)
    assert flag._waiters is None and not flag.is_set()


async def test_a_set_flag_is_waited_on_at_once_and_holds_nothing() -> None:
    flag = Flag(True)
    await flag.wait()
    assert flag._waiters is None


async def test_a_cancelled_waiter_leaves_nothing_behind() -> None:
    flag = Flag()
    waiter = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    assert flag._waiters is not None
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert waiter.cancelled() and flag._waiters is None
    flag.set()  # wakes no one, and fails on nothing
