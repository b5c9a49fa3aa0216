"""a customer's cases index holds merged_into_id, so whether a line-limited official may see a
customer (a case of theirs on the line, or merged into one that is) is read from the index alone

Revision ID: k25_customer_index_merged
Revises: e22_line_index_counts_alone
Create Date: 2026-12-01 05:05:00

A merged case counts on its survivor's line when an official limited to some lines looks for
its customer. The check reads each customer's cases through ix_case_customer_thread; without
merged_into_id in it, the count of a line adviser's customer list read every case's row
(80,496 buffers, 31 ms, against 509 and 11 ms before the rule) at 1,000,000 cases; with it,
446 buffers and 14.5 ms. A key after the others, not a second index: every case update writes
to each of the case indexes.
"""
from alembic import op


revision = 'k25_customer_index_merged'
down_revision = 'e22_line_index_counts_alone'
branch_labels = None
depends_on = None


def upgrade():
    # Plain CREATE and DROP INDEX: on SQLite no table is rebuilt, so the search triggers stay.
    op.drop_index('ix_case_customer_thread', table_name='case')
    op.create_index('ix_case_customer_thread', 'case',
                    ['customer_id', 'service_line_id', 'channel', 'status', 'merged_into_id'])


def downgrade():
    op.drop_index('ix_case_customer_thread', table_name='case')
    op.create_index('ix_case_customer_thread', 'case', ['customer_id', 'service_line_id', 'channel', 'status'])
