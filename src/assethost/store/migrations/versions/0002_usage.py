"""usage

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:45:38.704331
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('usage',
    sa.Column('account_sid', sa.String(length=34), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('requests', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('account_sid', 'month', name=op.f('pk_usage'))
    )


def downgrade() -> None:
    op.drop_table('usage')
