"""retention clocks: recordings on their own clock, cases left open, provider copies

Revision ID: r17_retention_clocks
Revises: ec0a896f4144
Create Date: 2026-11-29 20:30:00

Recordings outlive their case when their own period is longer: the foreign keys to the case
and the contact become SET NULL, and each recording keeps its line and calling number, copied
here from its case and call. Cases left open need nothing new: their clock is
``last_activity_at``, which every existing case has.
"""
from alembic import op
import sqlalchemy as sa


revision = 'r17_retention_clocks'
down_revision = 'ec0a896f4144'
branch_labels = None
depends_on = None


def _recording_foreign_keys(ondelete):
    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_recording_case_id_case'), type_='foreignkey')
        batch_op.drop_constraint(op.f('fk_recording_contact_id_contact'), type_='foreignkey')
        batch_op.create_foreign_key(op.f('fk_recording_case_id_case'), 'case', ['case_id'], ['id'],
                                    ondelete=ondelete)
        batch_op.create_foreign_key(op.f('fk_recording_contact_id_contact'), 'contact', ['contact_id'], ['id'],
                                    ondelete=ondelete)


def upgrade():
    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.add_column(sa.Column('service_line_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('caller', sa.String(length=254), nullable=True))
        batch_op.create_index(batch_op.f('ix_recording_service_line_id'), ['service_line_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_recording_service_line_id_service_line'), 'service_line',
                                    ['service_line_id'], ['id'])
    _recording_foreign_keys('SET NULL')
    op.execute('UPDATE recording SET service_line_id = '
               '(SELECT "case".service_line_id FROM "case" WHERE "case".id = recording.case_id) '
               'WHERE case_id IS NOT NULL')
    op.execute('UPDATE recording SET caller = '
               '(SELECT contact.sender FROM contact WHERE contact.id = recording.contact_id) '
               'WHERE contact_id IS NOT NULL')

    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.create_index('ix_case_line_activity', ['service_line_id', 'last_activity_at'], unique=False)

    op.create_table('provider_copy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('provider_sid', sa.String(length=255), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_copy')),
    sa.UniqueConstraint('kind', 'provider_sid', name=op.f('uq_provider_copy_kind_provider_sid'))
    )
    with op.batch_alter_table('provider_copy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_provider_copy_next_attempt_at'), ['next_attempt_at'], unique=False)


def downgrade():
    with op.batch_alter_table('provider_copy', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_provider_copy_next_attempt_at'))
    op.drop_table('provider_copy')
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_index('ix_case_line_activity')
    _recording_foreign_keys('CASCADE')
    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_recording_service_line_id_service_line'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_recording_service_line_id'))
        batch_op.drop_column('caller')
        batch_op.drop_column('service_line_id')
