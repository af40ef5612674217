"""console sessions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('account_sid', sa.String(length=34), nullable=False),
    sa.Column('credential_sid', sa.String(length=34), nullable=False),
    sa.Column('credential_digest', sa.String(length=64), nullable=False),
    sa.Column('date_created', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_sid'], ['accounts.sid'], name=op.f('fk_console_sessions_account_sid_accounts'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_sessions'))
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_console_sessions_expires_at', ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_console_sessions_expires_at')

    op.drop_table('console_sessions')
