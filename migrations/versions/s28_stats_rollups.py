"""statistics rollups: cells of calls, cases and feedback per day, week and month

Revision ID: s28_stats_rollups
Revises: m18_linked_cases
Create Date: 2026-11-29 20:50:00

Every report is now read from rollups. The cells start empty; on a database that already has
facts, a moment every twelve hours from the first fact to the last is queued for recount (each
local day holds at least one of them, whatever the zone), and the rollup job fills the cells
on its next run. ``flask stats rebuild`` does the same at once.
"""
from datetime import datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa


revision = 's28_stats_rollups'
down_revision = 'm18_linked_cases'
branch_labels = None
depends_on = None


def _moment(value):
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands back text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _queue_existing_days(recount):
    bind = op.get_bind()
    bounds = [bind.execute(sa.text(sql)).one() for sql in (
        'SELECT min(occurred_at), max(occurred_at) FROM stats_contact_fact',
        'SELECT min(opened_at), max(coalesce(feedback_answered_at, closed_at, opened_at)) FROM stats_case_fact',
        'SELECT max(closed_at), max(feedback_answered_at) FROM stats_case_fact')]
    moments = [_moment(value) for row in bounds for value in row if value is not None]
    if not moments:
        return
    at, last = min(moments) - timedelta(days=1), max(moments) + timedelta(days=1)
    rows = []
    while at <= last:
        rows.append({'at': at if bind.dialect.name != 'sqlite' else at.replace(tzinfo=None)})
        at += timedelta(hours=12)
    op.bulk_insert(recount, rows)


def upgrade():
    op.create_table('stats_cell',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report', sa.String(length=8), nullable=False),
    sa.Column('span', sa.String(length=5), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('grouping', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=True),
    sa.Column('language', sa.String(length=2), nullable=True),
    sa.Column('service_line_id', sa.Integer(), nullable=True),
    sa.Column('open_change', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('measures', sa.Text(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stats_cell'))
    )
    with op.batch_alter_table('stats_cell', schema=None) as batch_op:
        batch_op.create_index('ix_stats_cell_lookup', ['report', 'grouping', 'span', 'period'], unique=False)

    recount = op.create_table('stats_recount',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stats_recount'))
    )

    with op.batch_alter_table('stats_case_fact', schema=None) as batch_op:
        batch_op.create_index('ix_stats_case_fact_first_response', ['first_response_at'], unique=False)
        batch_op.create_index('ix_stats_case_fact_forwarded', ['forwarded_at'], unique=False)
        batch_op.create_index('ix_stats_case_fact_feedback_answered', ['feedback_answered_at'], unique=False)

    _queue_existing_days(recount)


def downgrade():
    with op.batch_alter_table('stats_case_fact', schema=None) as batch_op:
        batch_op.drop_index('ix_stats_case_fact_feedback_answered')
        batch_op.drop_index('ix_stats_case_fact_forwarded')
        batch_op.drop_index('ix_stats_case_fact_first_response')

    op.drop_table('stats_recount')
    with op.batch_alter_table('stats_cell', schema=None) as batch_op:
        batch_op.drop_index('ix_stats_cell_lookup')

    op.drop_table('stats_cell')
