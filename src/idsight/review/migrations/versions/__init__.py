"""Alembic revisions of the review store schema (one file per revision)."""
