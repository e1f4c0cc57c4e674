"""Runs migrations on the connection ``Database`` passes in, or on the ini file's URL."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from portal.db import Base


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True)  # SQLite alters tables by copying them
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = engine_from_config(context.config.get_section(context.config.config_ini_section),
                                prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        run(connection)
