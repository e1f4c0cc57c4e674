"""Alembic migrations of the portal database (SQLite or PostgreSQL).

``Database`` brings every database to ``HEAD`` at start: a new one is created from the
models and stamped, one made before migrations existed is stamped with the first revision,
and any other is upgraded. ``HEAD`` lets a start skip importing Alembic when there is
nothing to do; a test checks it names Alembic's head.

A schema change: edit the models in portal/db.py, then from the repository root
``.venv/bin/alembic -c portal/migrations/alembic.ini revision --autogenerate -m "what"``
(it compares the models with a scratch SQLite database at head), review the new file,
and set ``HEAD`` to its revision.
"""

from pathlib import Path

HEAD = "0006"
SCRIPTS = Path(__file__).parent
