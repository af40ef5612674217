"""versions by account and content

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 19:54:12.184385
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.create_index('ix_versions_account_blob', ['account_sid', 'blob_hash'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.drop_index('ix_versions_account_blob')

