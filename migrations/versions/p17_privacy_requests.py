"""privacy requests: every right, extension notices, answer reasons, rectification history

Every request type with the extension notice and the answer's reason; a period for answered
requests and for the old values of corrections (rectification_history).

Revision ID: p17_privacy_requests
Revises: r17_retention_clocks
Create Date: 2026-11-29 20:20:00.000000

Audit entries written before this revision keep the old values of corrections in their
``previous`` details: they are hash-chained, so they are not rewritten here. They go when the
audit log's own period ends (docs/data-subject-requests.md).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'p17_privacy_requests'
down_revision = 'r17_retention_clocks'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rectification_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=32), nullable=False),
    sa.Column('old_value', sa.Text(), nullable=True),
    sa.Column('corrected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('corrected_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['corrected_by_id'], ['official.id'], name=op.f('fk_rectification_history_corrected_by_id_official'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_rectification_history_customer_id_customer'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rectification_history'))
    )
    with op.batch_alter_table('rectification_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rectification_history_corrected_at'), ['corrected_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_rectification_history_customer_id'), ['customer_id'], unique=False)

    # All nullable: existing requests have had no extension notice nor answer reason recorded.
    with op.batch_alter_table('privacy_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('extension_notified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('extension_notified_via', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('answer_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('personal_data_deleted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_privacy_request_completed_at'), ['completed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('privacy_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_request_completed_at'))
        batch_op.drop_column('personal_data_deleted_at')
        batch_op.drop_column('answer_reason')
        batch_op.drop_column('extension_notified_via')
        batch_op.drop_column('extension_notified_at')

    with op.batch_alter_table('rectification_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rectification_history_customer_id'))
        batch_op.drop_index(batch_op.f('ix_rectification_history_corrected_at'))

    op.drop_table('rectification_history')
