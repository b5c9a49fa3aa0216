"""service clocks: business calendars, targets per line and channel, due times on cases

Revision ID: c22_service_clocks
Revises: o23_sign_in
Create Date: 2026-11-29 23:40:00

Existing cases get no clocks: their lines have no calendar or targets until an administrator
sets them, and clocks start with the cases created after that.

The cases report gains counts and figures, so its cells are stored in a longer layout: the old
cells are deleted and every day with case facts is queued for recount (as s28 did), which the
rollup job (or `flask stats rebuild`) fills in.
"""
from datetime import datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa


revision = 'c22_service_clocks'
down_revision = 'o23_sign_in'
branch_labels = None
depends_on = None

_CASE_COLUMNS = (
    ('first_response_due_at', sa.DateTime(timezone=True)),
    ('resolution_due_at', sa.DateTime(timezone=True)),
    ('next_due_at', sa.DateTime(timezone=True)),
    ('clock_since', sa.DateTime(timezone=True)),
    ('clock_paused_at', sa.DateTime(timezone=True)),
    ('first_response_left_seconds', sa.Integer()),
    ('resolution_left_seconds', sa.Integer()),
    ('first_response_target_seconds', sa.Integer()),
    ('resolution_target_seconds', sa.Integer()),
    ('resolution_started_at', sa.DateTime(timezone=True)),
    ('first_response_met', sa.Boolean()),
    ('resolution_met', sa.Boolean()),
    ('first_response_working_seconds', sa.Integer()),
    ('resolution_working_seconds', sa.Integer()),
)
_FACT_COLUMNS = (
    ('first_response_met', sa.Boolean()),
    ('resolution_met', sa.Boolean()),
    ('first_response_working_seconds', sa.Integer()),
    ('resolution_working_seconds', sa.Integer()),
)


def _moment(value):
    if isinstance(value, str):  # SQLite hands back text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _recount_case_cells():
    bind = op.get_bind()
    op.execute("DELETE FROM stats_cell WHERE report = 'cases'")
    first, last = bind.execute(sa.text(
        'SELECT min(opened_at), max(coalesce(closed_at, first_response_at, opened_at)) FROM stats_case_fact')).one()
    if first is None:
        return
    at, last = _moment(first) - timedelta(days=1), _moment(last) + timedelta(days=1)
    rows = []
    while at <= last:
        rows.append({'at': at if bind.dialect.name != 'sqlite' else at.replace(tzinfo=None)})
        at += timedelta(hours=12)
    recount = sa.table('stats_recount', sa.column('at', sa.DateTime(timezone=True)))
    op.bulk_insert(recount, rows)


def upgrade():
    op.create_table('business_calendar',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('hours', sa.Text(), nullable=False),
    sa.Column('holiday_country', sa.String(length=2), nullable=True),
    sa.Column('closed_days', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_business_calendar')),
    sa.UniqueConstraint('name', name=op.f('uq_business_calendar_name'))
    )
    op.create_table('service_target',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_line_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('first_response_minutes', sa.Integer(), nullable=True),
    sa.Column('resolution_days', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['service_line_id'], ['service_line.id'],
                            name=op.f('fk_service_target_service_line_id_service_line'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_target')),
    sa.UniqueConstraint('service_line_id', 'channel', name=op.f('uq_service_target_service_line_id_channel'))
    )
    op.create_table('case_clock_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('first_response_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_case_clock_event_case_id_case'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_clock_event'))
    )
    with op.batch_alter_table('case_clock_event', schema=None) as batch_op:
        batch_op.create_index('ix_case_clock_event_case', ['case_id', 'at'], unique=False)

    with op.batch_alter_table('service_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calendar_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_service_line_calendar_id_business_calendar'),
                                    'business_calendar', ['calendar_id'], ['id'], ondelete='RESTRICT')

    with op.batch_alter_table('case', schema=None) as batch_op:
        for name, type_ in _CASE_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.create_index('ix_case_next_due', ['next_due_at', 'id'], unique=False)

    with op.batch_alter_table('stats_case_fact', schema=None) as batch_op:
        for name, type_ in _FACT_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))

    _recount_case_cells()


def downgrade():
    op.execute("DELETE FROM stats_cell WHERE report = 'cases'")
    with op.batch_alter_table('stats_case_fact', schema=None) as batch_op:
        for name, _type in reversed(_FACT_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_index('ix_case_next_due')
        for name, _type in reversed(_CASE_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table('service_line', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_service_line_calendar_id_business_calendar'), type_='foreignkey')
        batch_op.drop_column('calendar_id')
    with op.batch_alter_table('case_clock_event', schema=None) as batch_op:
        batch_op.drop_index('ix_case_clock_event_case')
    op.drop_table('case_clock_event')
    op.drop_table('service_target')
    op.drop_table('business_calendar')
