"""media facts per blob, media settings per service

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 16:00:00.000000

Two new tables, nothing else changes: `media` holds what the bytes of a blob are (read at its
first upload; blobs uploaded before this migration have no row and are shown as not inspected),
`media_settings` a service's choice to strip image metadata and which media rules fail a build.
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'media',
        sa.Column('blob_hash', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('format', sa.String(length=32), nullable=True),
        sa.Column('codec', sa.String(length=32), nullable=True),
        sa.Column('sniffed_type', sa.String(length=255), nullable=True),
        sa.Column('duration_ms', sa.BigInteger(), nullable=True),
        sa.Column('sample_rate', sa.Integer(), nullable=True),
        sa.Column('channels', sa.Integer(), nullable=True),
        sa.Column('bitrate', sa.Integer(), nullable=True),
        sa.Column('width', sa.Integer(), nullable=True),
        sa.Column('height', sa.Integer(), nullable=True),
        sa.Column('has_exif', sa.Boolean(), nullable=False),
        sa.Column('has_gps', sa.Boolean(), nullable=False),
        sa.Column('date_created', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('blob_hash', name=op.f('pk_media')),
    )
    op.create_table(
        'media_settings',
        sa.Column('service_sid', sa.String(length=34), nullable=False),
        sa.Column('strip_metadata', sa.Boolean(), nullable=False),
        sa.Column('strict_rules', sa.Text(), nullable=False),
        sa.Column('date_updated', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['service_sid'], ['services.sid'], name=op.f('fk_media_settings_service_sid_services'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('service_sid', name=op.f('pk_media_settings')),
    )


def downgrade() -> None:
    op.drop_table('media_settings')
    op.drop_table('media')
