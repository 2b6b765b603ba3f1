"""Reject answers that would bake a project which cannot install or import.

Cookiecutter renders this file before running it, so the values below are the
user's answers (``tojson`` keeps a quote in them from breaking this file).
Failing here, before any template file is rendered, gives one clear line
instead of a half-generated project that breaks later.
"""

import keyword
import re
import sys

PROJECT_SLUG = {{ cookiecutter.project_slug | tojson }}
PACKAGE_NAME = {{ cookiecutter.package_name | tojson }}
PYTHON_VERSION = {{ cookiecutter.python_version | tojson }}

SLUG_RE = re.compile(r"[a-z][a-z0-9_-]*")
PYTHON_VERSION_RE = re.compile(r"3\.(\d+)")
OLDEST_MINOR = 11


def problems() -> list[str]:
    """Return one message per invalid answer."""
    found = []
    if not SLUG_RE.fullmatch(PROJECT_SLUG):
        found.append(
            f"project_slug {PROJECT_SLUG!r} must start with a lowercase letter and "
            "contain only lowercase letters, digits, '-' and '_'."
        )
    if not PACKAGE_NAME.isidentifier() or not PACKAGE_NAME.isascii():
        found.append(
            f"package_name {PACKAGE_NAME!r} is not a valid Python identifier "
            "(letters, digits and '_', not starting with a digit)."
        )
    elif keyword.iskeyword(PACKAGE_NAME):
        found.append(f"package_name {PACKAGE_NAME!r} is a Python keyword.")
    version = PYTHON_VERSION_RE.fullmatch(PYTHON_VERSION)
    if version is None or int(version.group(1)) < OLDEST_MINOR:
        found.append(
            f"python_version {PYTHON_VERSION!r} must look like '3.{OLDEST_MINOR}' "
            f"and be 3.{OLDEST_MINOR} or newer."
        )
    return found


def main() -> int:
    """Print every problem as an ERROR line; exit non-zero if there is one."""
    messages = problems()
    for message in messages:
        print(f"ERROR: {message}")
    return 1 if messages else 0


if __name__ == "__main__":
    sys.exit(main())
