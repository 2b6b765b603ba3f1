"""The contacts CRUD sample: a live list (``index``), a record (``show``) and its form (``form``).

The three pages stay current across every viewer: each write is broadcast on
``contacts.TOPIC`` and each open page reloads what it shows. Presence tells
who is looking at the list, and who is viewing or editing each record.
"""
