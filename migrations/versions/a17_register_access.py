"""register access: supervisors limited to their service lines

Revision ID: a17_register_access
Revises: v17_voice_recordings
Create Date: 2026-11-29 20:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a17_register_access'
down_revision = 'v17_voice_recordings'
branch_labels = None
depends_on = None


def upgrade():
    # Existing officials get false: every supervisor keeps seeing every line, as before, even
    # one who is a member of some lines. The inspector role needs no schema change.
    with op.batch_alter_table('official', schema=None) as batch_op:
        batch_op.add_column(sa.Column('limited_to_lines', sa.Boolean(), nullable=False,
                                      server_default=sa.text('false')))


def downgrade():
    with op.batch_alter_table('official', schema=None) as batch_op:
        batch_op.drop_column('limited_to_lines')
