"""calls: the official's leg that took a queued call, the unfinished-call index; recordings:
the integration that reported one and when its audio was uploaded

Revision ID: v17_voice_recordings
Revises: p17_privacy_requests
Create Date: 2026-11-29 20:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'v17_voice_recordings'
down_revision = 'p17_privacy_requests'
branch_labels = None
depends_on = None

_UNFINISHED_CALL = "channel = 'phone' AND answered_at IS NULL AND ended_at IS NULL"


def upgrade():
    # Every new column is nullable and empty on existing rows: a call answered before this
    # revision has no agent leg on record, and a recording reported before it has no uploader.
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agent_call_sid', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_contact_agent_call_sid'), ['agent_call_sid'], unique=False)
        batch_op.create_index('ix_contact_unfinished_call', ['started_at'], unique=False,
                              sqlite_where=sa.text(_UNFINISHED_CALL), postgresql_where=sa.text(_UNFINISHED_CALL))

    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reported_by_key_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('audio_uploaded_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_recording_reported_by_key_id_api_key'), 'api_key',
                                    ['reported_by_key_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('recording', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_recording_reported_by_key_id_api_key'), type_='foreignkey')
        batch_op.drop_column('audio_uploaded_at')
        batch_op.drop_column('reported_by_key_id')

    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_unfinished_call')
        batch_op.drop_index(batch_op.f('ix_contact_agent_call_sid'))
        batch_op.drop_column('agent_call_sid')
