"""environment domains without the base domain

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 13:00:00.000000

`environments.domain_name` held the whole domain, with the --base-domain of the server that made
the environment baked in: a server started with another base domain served none of them. It
becomes `domain_label`, the environment's own part (`{domain_base}[-{domain_suffix}]`, as
`core.environments.domain_label` makes it), made again from the service's domain base and the
environment's suffix, whatever base domain the row was made under. Every row is kept.
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_environments = sa.table(
    'environments', sa.column('id', sa.Integer), sa.column('service_sid', sa.String),
    sa.column('domain_suffix', sa.String), sa.column('domain_name', sa.String),
)
_services = sa.table('services', sa.column('sid', sa.String), sa.column('domain_base', sa.String))


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_environments.c.id, _environments.c.domain_suffix, _environments.c.domain_name,
                  _services.c.domain_base)
        .select_from(_environments.outerjoin(_services, _services.c.sid == _environments.c.service_sid))
    ).all()
    for row in rows:
        if row.domain_base is not None:
            label = (f"{row.domain_base}-{row.domain_suffix}" if row.domain_suffix else row.domain_base).lower()
        else:  # no service to make it from (foreign keys were not enforced): the domain's first label
            label = row.domain_name.split(".", 1)[0]
        conn.execute(_environments.update().where(_environments.c.id == row.id).values(domain_name=label))
    _rename('domain_name', 'domain_label')


def downgrade() -> None:
    """The base domain of the rows is not known here: they get the default, localhost."""
    _rename('domain_label', 'domain_name')
    conn = op.get_bind()
    conn.execute(_environments.update().values(domain_name=_environments.c.domain_name + '.localhost'))


def _rename(old: str, new: str) -> None:
    # In place, never by batch: a batch copies the table and drops it, and on SQLite (foreign keys
    # on) dropping it deletes every deployment and variable by cascade. The unique constraint
    # follows the column and keeps its name, uq_environments_domain_name (see store/schema.py).
    op.alter_column('environments', old, new_column_name=new, existing_type=sa.String(length=255),
                    existing_nullable=False)
