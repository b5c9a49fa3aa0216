"""contact external ids in namespaces (provider ids, ids logged by hand); used request keys;
login throttle per username and client address

Revision ID: e18_edges
Revises: a17_register_access
Create Date: 2026-11-29 20:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e18_edges'
down_revision = 'a17_register_access'
branch_labels = None
depends_on = None


def upgrade():
    # Every existing id is kept as a provider's: which of them were typed in by hand cannot be
    # told afterwards, and treating them as the provider's is what the old constraint did.
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('external_id_source', sa.String(length=8), nullable=False,
                                      server_default='provider'))
        batch_op.drop_constraint('uq_contact_channel_external_id', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_contact_channel_external_id_source_external_id'),
                                          ['channel', 'external_id_source', 'external_id'])

    op.create_table('used_request_key',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_used_request_key'))
    )
    with op.batch_alter_table('used_request_key', schema=None) as batch_op:
        batch_op.create_index('ix_used_request_key_expires', ['expires_at'], unique=False)

    # Login failures are counted per username and client address. The table holds only
    # passing lockouts, so it is made anew rather than converted.
    op.drop_table('login_throttle')
    _login_throttle(sa.Column('client_address', sa.String(length=45), nullable=False),
                    primary_key=('username', 'client_address'))


def _login_throttle(*extra, primary_key):
    op.create_table('login_throttle',
    sa.Column('username', sa.String(length=64), nullable=False),
    *extra,
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint(*primary_key, name=op.f('pk_login_throttle'))
    )


def downgrade():
    op.drop_table('login_throttle')
    _login_throttle(primary_key=('username',))

    with op.batch_alter_table('used_request_key', schema=None) as batch_op:
        batch_op.drop_index('ix_used_request_key_expires')
    op.drop_table('used_request_key')

    # Ids logged by hand that repeat a provider's cannot share the old constraint: they go.
    op.execute("UPDATE contact SET external_id = NULL WHERE external_id_source = 'hand' AND EXISTS "
               "(SELECT 1 FROM contact AS p WHERE p.channel = contact.channel AND p.external_id = contact.external_id "
               "AND p.external_id_source = 'provider')")
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_constraint('uq_contact_channel_external_id_source_external_id', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_contact_channel_external_id'), ['channel', 'external_id'])
        batch_op.drop_column('external_id_source')
