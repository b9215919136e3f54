"""competition budgets: the clock they were measured on, and the timings behind the median

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("competition_budgets", schema=None) as batch_op:
        # budgets measured before this revision were wall-clock timings
        batch_op.add_column(
            sa.Column("clock", sa.String(length=8), nullable=False, server_default="wall")
        )
        batch_op.add_column(sa.Column("samples", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("competition_budgets", schema=None) as batch_op:
        batch_op.drop_column("samples")
        batch_op.drop_column("clock")
