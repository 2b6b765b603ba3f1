"""How many examples the property-based tests try.

Quick by default, so the suite stays fast while you work on the app; set
``PROPERTY_SCALE`` (the template's CI uses 7) to try that many times more.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

SCALE = float(os.environ.get("PROPERTY_SCALE", "1"))


def examples(count: int) -> settings:
    """Settings for a property test trying ``count`` x ``PROPERTY_SCALE`` examples."""
    return settings(
        max_examples=max(1, round(count * SCALE)),
        deadline=None,
        # No explain phase: on a failure it replays hundreds of variants, for minutes.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
