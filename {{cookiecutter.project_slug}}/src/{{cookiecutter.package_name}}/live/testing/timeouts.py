"""How long tests wait: every bound, times ``TEST_TIMEOUT_SCALE``.

A wait bound is the most an expected event may take before the test fails;
on a busy machine everything takes longer. The test client's defaults and
every bound in the app's own tests are ``scaled(seconds)``, chosen to pass on
a two-core machine running twice as many busy processes as it has cores;
``TEST_TIMEOUT_SCALE=3`` (say) gives a slower machine three times as long
without editing a test. A test waits on a condition, so a bound costs time
only when the test fails.
"""

from __future__ import annotations

import math
import os

VARIABLE = "TEST_TIMEOUT_SCALE"


def scale() -> float:
    """``TEST_TIMEOUT_SCALE`` from the environment: a positive number, 1 when unset."""
    value = os.environ.get(VARIABLE, "").strip() or "1"
    try:
        factor = float(value)
    except ValueError:
        factor = math.nan
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"{VARIABLE} must be a positive number, not {value!r}")
    return factor


def scaled(seconds: float) -> float:
    """``seconds`` times ``TEST_TIMEOUT_SCALE``."""
    return seconds * scale()
