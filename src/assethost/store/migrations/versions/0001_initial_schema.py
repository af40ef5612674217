"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 19:37:33.016159
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sid', sa.String(length=34), nullable=False),
    sa.Column('friendly_name', sa.String(length=255), nullable=False),
    sa.Column('auth_token', sa.String(length=64), nullable=False),
    sa.Column('date_created', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('sid', name=op.f('uq_accounts_sid'))
    )
    op.create_table('deploy_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deploy_state'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sid', sa.String(length=34), nullable=False),
    sa.Column('account_sid', sa.String(length=34), nullable=False),
    sa.Column('friendly_name', sa.String(length=255), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('date_created', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_sid'], ['accounts.sid'], name=op.f('fk_api_keys_account_sid_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('sid', name=op.f('uq_api_keys_sid'))
    )
    op.create_table('services',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sid', sa.String(length=34), nullable=False),
    sa.Column('account_sid', sa.String(length=34), nullable=False),
    sa.Column('unique_name', sa.String(length=50), nullable=False),
    sa.Column('friendly_name', sa.String(length=255), nullable=False),
    sa.Column('include_credentials', sa.Boolean(), nullable=False),
    sa.Column('ui_editable', sa.Boolean(), nullable=False),
    sa.Column('domain_base', sa.String(length=64), nullable=False),
    sa.Column('date_created', sa.DateTime(), nullable=False),
    sa.Column('date_updated', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_sid'], ['accounts.sid'], name=op.f('fk_services_account_sid_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_services')),
    sa.UniqueConstraint('account_sid', 'unique_name', name='uq_services_account_unique_name'),
    sa.UniqueConstraint('domain_base', name=op.f('uq_services_domain_base')),
    sa.UniqueConstraint('sid', name=op.f('uq_services_sid'))
    )
    op.create_table('builds',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sid', sa.String(length=34), nullable=False),
    sa.Column('account_sid', sa.String(length=34), nullable=False),
    sa.Column('service_sid', sa.String(length=34), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('runtime', sa.String(length=32), nullable=False),
    sa.Column('dependencies', sa.Text(), nullable=False),
    sa.Column('date_created', sa.DateTime(), nullable=False),
    sa.Column('date_updated', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['service_sid'], ['services.sid'], name=op.f('fk_builds_service_sid_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_builds')),
    sa.UniqueConstraint('sid', name=op.f('uq_builds_sid'))
    )
    with op.batch_alter_table('builds', schema=None) as batch_op:
        batch_op.create_index('ix_builds_service', ['service_sid'], unique=False)

    op.create_table('environments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sid', sa.String(length=34), nullable=False),
    sa.Column('account_sid', sa.String(length=34), nullable=False),
    sa.Column('service_sid', sa.String(length=34), nullable=False),
    sa.Column('unique_name', sa.String(length=100), nullable=False),
    sa.Column('domain_suffix', sa.String(length=16), nullable=True),
    sa.Column('domain_name', sa.String(length=255), nullable=False),
    sa.Column('build_sid', sa.String(length=34), nullable=True),
    sa.Column('date_created', sa.DateTime(), nullable=False),
    sa.Column('date_updated', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['service_sid'], ['services.sid'], name=op.f('fk_environments_service_sid_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_environments')),
    sa.UniqueConstraint('domain_name', name=op.f('uq_environments_domain_name')),
    sa.UniqueConstraint('service_sid', 'domain_suffix', name='uq_environments_service_domain_suffix'),
    sa.UniqueConstraint('service_sid', 'unique_name', name='uq_environments_service_unique_name'),
    sa.UniqueConstraint('sid', name=op.f('uq_environments_sid'))
    )
    op.create_table('resources',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sid', sa.String(length=34), nullable=False),
    sa.Column('account_sid', sa.String(length=34), nullable=False),
    sa.Column('service_sid', sa.String(length=34), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('friendly_name', sa.String(length=255), nullable=False),
    sa.Column('date_created', sa.DateTime(), nullable=False),
    sa.Column('date_updated', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['service_sid'], ['services.sid'], name=op.f('fk_resources_service_sid_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resources')),
    sa.UniqueConstraint('sid', name=op.f('uq_resources_sid'))
    )
    with op.batch_alter_table('resources', schema=None) as batch_op:
        batch_op.create_index('ix_resources_service_kind', ['service_sid', 'kind'], unique=False)

    op.create_table('build_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('build_sid', sa.String(length=34), nullable=False),
    sa.Column('version_sid', sa.String(length=34), nullable=False),
    sa.Column('resource_sid', sa.String(length=34), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('blob_hash', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content_type', sa.String(length=255), nullable=False),
    sa.Column('version_date_created', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['build_sid'], ['builds.sid'], name=op.f('fk_build_entries_build_sid_builds'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_build_entries'))
    )
    with op.batch_alter_table('build_entries', schema=None) as batch_op:
        batch_op.create_index('ix_build_entries_build', ['build_sid'], unique=False)

    op.create_table('deployments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sid', sa.String(length=34), nullable=False),
    sa.Column('account_sid', sa.String(length=34), nullable=False),
    sa.Column('service_sid', sa.String(length=34), nullable=False),
    sa.Column('environment_sid', sa.String(length=34), nullable=False),
    sa.Column('build_sid', sa.String(length=34), nullable=True),
    sa.Column('date_created', sa.DateTime(), nullable=False),
    sa.Column('date_updated', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['environment_sid'], ['environments.sid'], name=op.f('fk_deployments_environment_sid_environments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deployments')),
    sa.UniqueConstraint('sid', name=op.f('uq_deployments_sid'))
    )
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.create_index('ix_deployments_environment', ['environment_sid'], unique=False)

    op.create_table('variables',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sid', sa.String(length=34), nullable=False),
    sa.Column('account_sid', sa.String(length=34), nullable=False),
    sa.Column('service_sid', sa.String(length=34), nullable=False),
    sa.Column('environment_sid', sa.String(length=34), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('date_created', sa.DateTime(), nullable=False),
    sa.Column('date_updated', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['environment_sid'], ['environments.sid'], name=op.f('fk_variables_environment_sid_environments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_variables')),
    sa.UniqueConstraint('environment_sid', 'key', name='uq_variables_environment_key'),
    sa.UniqueConstraint('sid', name=op.f('uq_variables_sid'))
    )
    op.create_table('versions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sid', sa.String(length=34), nullable=False),
    sa.Column('account_sid', sa.String(length=34), nullable=False),
    sa.Column('service_sid', sa.String(length=34), nullable=False),
    sa.Column('resource_sid', sa.String(length=34), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('blob_hash', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content_type', sa.String(length=255), nullable=False),
    sa.Column('date_created', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['resource_sid'], ['resources.sid'], name=op.f('fk_versions_resource_sid_resources'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_sid'], ['services.sid'], name=op.f('fk_versions_service_sid_services'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_versions')),
    sa.UniqueConstraint('sid', name=op.f('uq_versions_sid'))
    )
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.create_index('ix_versions_resource', ['resource_sid'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('versions', schema=None) as batch_op:
        batch_op.drop_index('ix_versions_resource')

    op.drop_table('versions')
    op.drop_table('variables')
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.drop_index('ix_deployments_environment')

    op.drop_table('deployments')
    with op.batch_alter_table('build_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_build_entries_build')

    op.drop_table('build_entries')
    with op.batch_alter_table('resources', schema=None) as batch_op:
        batch_op.drop_index('ix_resources_service_kind')

    op.drop_table('resources')
    op.drop_table('environments')
    with op.batch_alter_table('builds', schema=None) as batch_op:
        batch_op.drop_index('ix_builds_service')

    op.drop_table('builds')
    op.drop_table('services')
    op.drop_table('api_keys')
    op.drop_table('deploy_state')
    op.drop_table('accounts')
