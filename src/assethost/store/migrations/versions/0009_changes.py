"""the change feed

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 16:00:00.000000

`changes` names what each bump of `deploy_state.generation` changed, so that a process reloads
only those environments instead of all of them. It starts empty: a process that started before
has a generation with no rows after it, and reloads everything at its first change (a gap).
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'changes',
        sa.Column('generation', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('environment_sid', sa.String(length=34), nullable=True),
        sa.Column('service_sid', sa.String(length=34), nullable=True),
        sa.Column('account_sid', sa.String(length=34), nullable=True),
        sa.Column('date_created', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('generation', name=op.f('pk_changes')),
    )


def downgrade() -> None:
    op.drop_table('changes')
