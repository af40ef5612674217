"""function logs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 20:14:26.378949
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('logs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sid', sa.String(length=34), nullable=False),
    sa.Column('account_sid', sa.String(length=34), nullable=False),
    sa.Column('service_sid', sa.String(length=34), nullable=False),
    sa.Column('environment_sid', sa.String(length=34), nullable=False),
    sa.Column('build_sid', sa.String(length=34), nullable=False),
    sa.Column('deployment_sid', sa.String(length=34), nullable=True),
    sa.Column('function_sid', sa.String(length=34), nullable=True),
    sa.Column('request_sid', sa.String(length=34), nullable=True),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('date_created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_logs')),
    sa.UniqueConstraint('sid', name=op.f('uq_logs_sid'))
    )
    with op.batch_alter_table('logs', schema=None) as batch_op:
        batch_op.create_index('ix_logs_environment_date', ['environment_sid', 'date_created'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('logs', schema=None) as batch_op:
        batch_op.drop_index('ix_logs_environment_date')

    op.drop_table('logs')
