"""an adviser or supervisor an administrator trusts to link customer records as one person

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


def downgrade():
    with op.batch_alter_table('official', schema=None) as batch_op:
        batch_op.drop_column('may_link_customers')
