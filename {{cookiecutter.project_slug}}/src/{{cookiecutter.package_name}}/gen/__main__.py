"""The command line: ``python -m <package>.gen Product products name:str ... [--force]``."""

import argparse
import sys
from pathlib import Path

from .spec import KINDS, SpecError, parse
from .writer import plan

PACKAGE = Path(__file__).resolve().parents[1]
ROOT = PACKAGE.parents[1]
USAGE = f"""Types: {", ".join(KINDS)}.
  name:str           a line of text, required (the first names a record)
  notes:text         longer text, optional
  count:int  price:decimal  in_stock:bool  released:date  starts_at:datetime
  status:enum:draft,live                 one of the choices (the first by default)
  category_id:references:categories      one of a resource make gen-live wrote
"""


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(
        prog="make gen-live ARGS=...",
        description="Write a live resource: model, migration, context, views, templates, tests.",
        epilog=USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help="the model's class name, like Product")
    parser.add_argument("plural", help="its table, module and URL, like products")
    parser.add_argument("fields", nargs="*", help="name:type ...")
    parser.add_argument("--force", action="store_true", help="write its files again")
    args = parser.parse_args(argv)
    package = root / "src" / PACKAGE.name
    try:
        resource = parse([args.name, args.plural, *args.fields], package)
        written = plan(resource, root, PACKAGE.name, force=args.force).write()
    except SpecError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    print(f"\nNext: make migrate, then make test; the pages are at {resource.path}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
