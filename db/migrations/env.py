"""Alembic environment of LivSeg (no alembic.ini: ``db.engine.init_db`` configures it).

``db.engine.init_db`` passes an open connection in ``config.attributes["connection"]``;
without one (``alembic`` run by hand with ``-x url=...``) an engine is made from the URL.
"""

from __future__ import annotations

from alembic import context

from db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # pragma: no cover - manual use
    from db.engine import get_engine

    url = context.get_x_argument(as_dictionary=True).get("url")
    with get_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
