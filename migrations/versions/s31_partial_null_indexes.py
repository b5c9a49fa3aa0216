"""the indexes on a case's retention date and merge target, and on a contact's call leg, leave
out the rows without one

Revision ID: s31_partial_null_indexes
Revises: s30_search_set_based_insert
Create Date: 2026-11-30 14:40:00

Each is looked up only by a value, and most rows have none: every open case, every unmerged
case, every message. Intake's touch of a case is an update that writes an entry in every index
the row is in, so these two were two of the fifteen entries each contact wrote on its case.
"""
from alembic import op
import sqlalchemy as sa


revision = 's31_partial_null_indexes'
down_revision = 's30_search_set_based_insert'
branch_labels = None
depends_on = None

INDEXES = (("ix_case_retention_until", "case", "retention_until"),
           ("ix_case_merged_into_id", "case", "merged_into_id"),
           ("ix_contact_agent_call_sid", "contact", "agent_call_sid"))


def upgrade():
    # Plain CREATE and DROP INDEX: on SQLite no table is rebuilt, so the search triggers stay.
    for name, table, column in INDEXES:
        op.drop_index(name, table_name=table)
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, table, [column], postgresql_where=where, sqlite_where=where)


def downgrade():
    for name, table, column in INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [column])
