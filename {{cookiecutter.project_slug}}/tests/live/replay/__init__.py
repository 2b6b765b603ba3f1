"""Replay diffs through the official LiveView JS client (see ``harness``)."""

from __future__ import annotations

import typing as t

import pytest

from .harness import Case, ReplayClient, Result, missing_requirement

__all__ = ["Case", "ReplayClient", "Result", "replay_client"]


@pytest.fixture(scope="session")
def replay_client(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[ReplayClient]:
    """The client's merge, bundled and started once for the whole session."""
    reason = missing_requirement()
    if reason:
        pytest.fail(reason)  # a skipped replay would prove nothing
    client = ReplayClient(tmp_path_factory.mktemp("replay"))
    yield client
    client.close()
