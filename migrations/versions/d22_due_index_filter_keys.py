"""the queue's due index carries the status, channel and line after its order, so a list sorted
by due time with those filters skips the cases it does not show in the index, not in the table

Revision ID: d22_due_index_filter_keys
Revises: x32_customer_name_search
Create Date: 2026-12-01 00:40:00

ix_case_next_due (next_due_at, id) served the order of sort=due, but a filter on status,
channel or line was checked on each case's row: the open SMS cases, a fifth of the cases being
worked on, cost about ten table rows read for each one listed (537 buffers for page 2 at 200,000
cases, against 28 for the every-channel list). As trailing keys they do not change the order
the index is walked in; an equality on them (one status, one channel, one line) becomes an
index condition, checked on the index entry. A list of two or more values (status new and open,
an adviser of several lines) is still checked on the row on PostgreSQL 15, which keeps the
order, as before.
"""
from alembic import op
import sqlalchemy as sa


revision = 'd22_due_index_filter_keys'
down_revision = 'x32_customer_name_search'
branch_labels = None
depends_on = None

NOT_MERGED = sa.text("merged_into_id IS NULL")


def upgrade():
    # Plain CREATE and DROP INDEX: on SQLite no table is rebuilt, so the search triggers stay.
    op.drop_index('ix_case_next_due', table_name='case')
    op.create_index('ix_case_next_due', 'case', ['next_due_at', 'id', 'status', 'channel', 'service_line_id'],
                    postgresql_where=NOT_MERGED, sqlite_where=NOT_MERGED)


def downgrade():
    op.drop_index('ix_case_next_due', table_name='case')
    op.create_index('ix_case_next_due', 'case', ['next_due_at', 'id'],
                    postgresql_where=NOT_MERGED, sqlite_where=NOT_MERGED)
