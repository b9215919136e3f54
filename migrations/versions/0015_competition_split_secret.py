"""competitions: the server-side secret the hidden split is drawn from (core/hidden_seed.py)

Competitions that exist already get none: their split follows from their published seed and is
to be taken as known; an organizer re-splits them (POST /competitions/{slug}/resplit).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("competitions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("split_secret", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("competitions", schema=None) as batch_op:
        batch_op.drop_column("split_secret")
