"""How the property-based tests run: how many examples, and which.

Runs are reproducible by default: every run, local or CI, tries the same
examples (derandomised), so a failure in CI fails again on your machine and
a passing suite cannot turn red by luck. ``PROPERTY_SCALE`` (the template's
CI uses 7) tries that many times more examples.

``PROPERTY_EXPLORE=1`` is the long exploring run: random examples, new ones
each run, kept in Hypothesis' example database when they fail. Run it now
and then, apart from CI, with a large scale::

    PROPERTY_EXPLORE=1 PROPERTY_SCALE=50 pytest tests/live/test_live_replay.py

Pin whatever it finds with ``@example`` on the test, so CI keeps checking it.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

SCALE = float(os.environ.get("PROPERTY_SCALE", "1"))
EXPLORE = os.environ.get("PROPERTY_EXPLORE", "") not in ("", "0")


def examples(count: int) -> settings:
    """Settings for a property test trying ``count`` x ``PROPERTY_SCALE`` examples."""
    return settings(
        max_examples=max(1, round(count * SCALE)),
        derandomize=not EXPLORE,
        database=settings.default.database if EXPLORE else None,
        deadline=None,
        # No explain phase: on a failure it replays hundreds of variants, for minutes.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
