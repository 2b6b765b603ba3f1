"""``python -m my_live_app`` as ``make run`` serves it, with two routes of the bench's own.

Run from the baked project (``python <bench>/served.py``, ``PYTHONPATH`` its
``src``): the app's own ``__main__.main()`` serves, with its options and its
garbage collector set-up; the bench reads the server through

- ``/_bench/gc``: ``gc.collect()`` now (so the RSS read next is settled), and
  the tasks;
- ``/_bench/objects``: the objects the collector tracks and those frozen out
  of it (counting them makes a list of them all: read RSS before, as a list
  of millions is memory the C allocator may keep);
- ``/_bench/pauses``: the collector's runs and pauses since the last call,
  by generation (``gc.callbacks``).
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import typing as t

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from figures import GcPauses

PACKAGE = "my_live_app"  # the package of a bake with cookiecutter.json's defaults
gc_pauses = GcPauses()


async def collect(request: Request) -> JSONResponse:
    gc.collect()
    return JSONResponse({"tasks": len(asyncio.all_tasks())})


async def objects(request: Request) -> JSONResponse:
    return JSONResponse({"tracked": len(gc.get_objects()), "frozen": gc.get_freeze_count()})


async def pauses(request: Request) -> JSONResponse:
    return JSONResponse(gc_pauses.report())


def main() -> None:
    served = importlib.import_module(f"{PACKAGE}.__main__")
    create_app = served.create_app

    def create_bench_app(*args: t.Any, **kwargs: t.Any) -> Starlette:
        app = t.cast(Starlette, create_app(*args, **kwargs))
        app.router.routes[:0] = [
            Route("/_bench/gc", collect),
            Route("/_bench/objects", objects),
            Route("/_bench/pauses", pauses),
        ]
        return app

    served.create_app = create_bench_app  # what its server_config builds the app with
    gc.callbacks.append(gc_pauses)
    served.main()


if __name__ == "__main__":
    main()
