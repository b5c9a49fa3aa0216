"""the line index holds channel and merged_into_id after line and status, so an adviser's case
list (their lines only) is counted from the index alone

Revision ID: e22_line_index_counts_alone
Revises: d22_due_index_filter_keys
Create Date: 2026-12-01 01:55:00

An adviser who belongs to service lines sees only their cases; the list counts them (up to
LIST_COUNT_UP_TO) beside each page. ix_case_line_status (service_line_id, status) found them
but not whether each was merged, so the count read every matching case's row: 132 ms of a
line adviser's 163 ms page at 1,000,000 cases, and psycopg's prepared statement, planned
generically after five runs, scanned the whole table (177 ms). With the channel and
merged_into_id as keys the count is an index-only scan. Not a partial index beside it: every
case update writes an entry to each of the case table's indexes (none of them is HOT), and
retention and the service clocks look cases up by line without the merged filter.
"""
from alembic import op


revision = 'e22_line_index_counts_alone'
down_revision = 'd22_due_index_filter_keys'
branch_labels = None
depends_on = None


def upgrade():
    # Plain CREATE and DROP INDEX: on SQLite no table is rebuilt, so the search triggers stay.
    op.drop_index('ix_case_line_status', table_name='case')
    op.create_index('ix_case_line_status', 'case', ['service_line_id', 'status', 'channel', 'merged_into_id'])


def downgrade():
    op.drop_index('ix_case_line_status', table_name='case')
    op.create_index('ix_case_line_status', 'case', ['service_line_id', 'status'])
