"""``make gen-live``: a live resource in one command, written in the contacts sample's style.

``python -m <package>.gen Product products name:str price:decimal`` writes
the model, its migration, a context module (``products.py``: the queries,
validation and broadcasts), list/show/form live views with their
templates, the routes and nav link, and the tests; ``spec`` reads the
command, ``writer`` writes the files from ``templates/``.
"""
