"""versions by service

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-01 16:00:00.000000

A service's versions are listed, oldest first, by every deploy (`GET /assethost/v1/Services/{ZS}/
Versions`, what `assethost deploy` plans from) and by the console; without an index on
`service_sid` each page read every version of every service (on PostgreSQL at 1M versions, 125 ms
to 2 s per page). The index is (service_sid, id), the list's filter and its order, so a page,
offset or keyset, is read in index order and stops at its size (0.1 ms there).

The same holds for an asset's or function's own list of versions: `ix_versions_resource` becomes
(resource_sid, id). On (resource_sid) alone, PostgreSQL read a resource of 1000 versions among 1M
by scanning the primary key in order and filtering (10–90 ms per page).
"""
from alembic import op

revision = '0012'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.create_index('ix_versions_service', ['service_sid', 'id'], unique=False)
        batch_op.drop_index('ix_versions_resource')
        batch_op.create_index('ix_versions_resource', ['resource_sid', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.drop_index('ix_versions_resource')
        batch_op.create_index('ix_versions_resource', ['resource_sid'], unique=False)
        batch_op.drop_index('ix_versions_service')
