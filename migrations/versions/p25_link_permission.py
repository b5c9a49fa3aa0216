"""an adviser or supervisor an administrator trusts to link customer records as one person;
the queue's status indexes end with merged_into_id, so its counts stay index-only scans

Revision ID: p25_link_permission
Revises: m25_merge_split
Create Date: 2026-11-30 07:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'p25_link_permission'
down_revision = 'm25_merge_split'
branch_labels = None
depends_on = None


def upgrade():
    # Nobody gains anything by the migration: every existing official starts without the grant.
    # The official table has no full-text search trigger, so its SQLite rebuild loses none.
    with op.batch_alter_table('official', schema=None) as batch_op:
        batch_op.add_column(sa.Column('may_link_customers', sa.Boolean(), server_default=sa.text('false'),
                                      nullable=False))
    # Every case list filters merged_into_id IS NULL (m25_merge_split); with the column in the
    # index the counts read the index alone again instead of a heap page per case.
    _queue_indexes(with_merged=True)


def _queue_indexes(*, with_merged: bool) -> None:
    tail = ['merged_into_id'] if with_merged else []
    for name, columns in (('ix_case_status_created', ['status', 'created_at']),
                          ('ix_case_status_channel_created', ['status', 'channel', 'created_at'])):
        op.drop_index(name, table_name='case')
        op.create_index(name, 'case', columns + tail, unique=False)


def downgrade():
    _queue_indexes(with_merged=False)
    with op.batch_alter_table('official', schema=None) as batch_op:
        batch_op.drop_column('may_link_customers')
