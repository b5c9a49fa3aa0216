"""cases linked by an email that named them from another sender

Revision ID: m18_linked_cases
Revises: e18_edges
Create Date: 2026-11-29 21:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'm18_linked_cases'
down_revision = 'e18_edges'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('linked_case_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_case_linked_case_id_case'), 'case', ['linked_case_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_case_linked_case_id_case'), type_='foreignkey')
        batch_op.drop_column('linked_case_id')
