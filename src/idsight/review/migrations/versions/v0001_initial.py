"""Initial review store schema: reads, crops, images, reviews, review_fields.

Revision ID: 0001
Revises:
Create Date: 2026-05-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "reads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("corrections", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_reads_created_at", "reads", ["created_at"])
    op.create_table(
        "crops",
        sa.Column("read_id", sa.String(32), sa.ForeignKey("reads.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("png", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "images",
        sa.Column("read_id", sa.String(32), sa.ForeignKey("reads.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("png", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("read_id", sa.String(32), sa.ForeignKey("reads.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("read_id", "seq", name="uq_reviews_read_seq"),
    )
    op.create_index("ix_reviews_read_id", "reviews", ["read_id"])
    op.create_table(
        "review_fields",
        sa.Column(
            "review_id", sa.String(32), sa.ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("field", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('confirmed', 'corrected')", name="ck_review_fields_status"),
    )


def downgrade() -> None:
    for table in ("review_fields", "reviews", "images", "crops", "reads"):
        op.drop_table(table)
