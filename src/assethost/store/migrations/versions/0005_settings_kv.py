"""settings kv

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 20:03:47.265084
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('settings_kv',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_settings_kv'))
    )


def downgrade() -> None:
    op.drop_table('settings_kv')
