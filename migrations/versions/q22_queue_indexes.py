"""the agent queue's indexes leave out merged cases, as every list does, so the queue's total is
counted from the index alone again

Revision ID: q22_queue_indexes
Revises: p25_link_permission
Create Date: 2026-11-30 07:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'q22_queue_indexes'
down_revision = 'p25_link_permission'
branch_labels = None
depends_on = None

NOT_MERGED = sa.text("merged_into_id IS NULL")


def upgrade():
    # Plain CREATE and DROP INDEX: on SQLite no table is rebuilt, so the search triggers stay.
    op.drop_index('ix_case_status_channel_created', table_name='case')
    op.create_index('ix_case_status_channel_created', 'case', ['status', 'channel', 'created_at', 'id'],
                    postgresql_where=NOT_MERGED, sqlite_where=NOT_MERGED)
    op.drop_index('ix_case_next_due', table_name='case')
    op.create_index('ix_case_next_due', 'case', ['next_due_at', 'id'],
                    postgresql_where=NOT_MERGED, sqlite_where=NOT_MERGED)


def downgrade():
    op.drop_index('ix_case_next_due', table_name='case')
    op.create_index('ix_case_next_due', 'case', ['next_due_at', 'id'])
    op.drop_index('ix_case_status_channel_created', table_name='case')
    op.create_index('ix_case_status_channel_created', 'case', ['status', 'channel', 'created_at'])
