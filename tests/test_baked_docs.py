"""The READMEs document every ``make`` target, and the baked one says each thing once."""

import json
import re
from pathlib import Path

import pytest
from conftest import TEMPLATE

DOCUMENTED_TARGET = re.compile(r"^([a-z][a-z-]*):[^\n#]*##", re.MULTILINE)
PHONY = re.compile(r"^\.PHONY:(.*)$", re.MULTILINE)


def targets(makefile: Path) -> tuple[list[str], list[str]]:
    """The targets a Makefile describes with ``##``, and those it declares phony."""
    text = makefile.read_text()
    return DOCUMENTED_TARGET.findall(text), PHONY.search(text).group(1).split()


@pytest.mark.parametrize("fixture", ["default_project", "postgres_project", None])
def test_readme_lists_every_make_target(
    fixture: str | None, request: pytest.FixtureRequest
) -> None:
    project = TEMPLATE if fixture is None else request.getfixturevalue(fixture)
    documented, phony = targets(project / "Makefile")
    readme = (project / "README.md").read_text()

    assert sorted(documented) == sorted(phony), "every target says what it does"
    assert [name for name in documented if f"make {name}" not in readme] == []


def test_baked_readme_does_not_repeat_its_description(default_project: Path) -> None:
    description = json.loads((TEMPLATE / "cookiecutter.json").read_text())["description"]
    readme = (default_project / "README.md").read_text()
    opening = " ".join(description.split()[:3])  # "A Starlette app"

    assert readme.count(description) == 1
    assert readme.count(opening) == 1, f"{opening!r} opens another sentence too"
