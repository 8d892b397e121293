"""Alembic environment for the review store: runs on the connection the store hands over.

The store calls ``command.upgrade`` with ``config.attributes["connection"]`` set, inside its own
transaction, so no ini file, logging config or URL is read here.
"""

from __future__ import annotations

from alembic import context

from idsight.review.migrations import VERSION_TABLE
from idsight.review.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the review store migrations run only through idsight.review.migrations.upgrade")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables instead
)
with context.begin_transaction():
    context.run_migrations()
