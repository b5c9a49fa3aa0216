"""reply templates per service line and language; a privacy notice link per line

Revision ID: t20_reply_templates
Revises: s28_stats_rollups
Create Date: 2026-11-29 23:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = 't20_reply_templates'
down_revision = 's28_stats_rollups'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('service_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('privacy_notice_url', sa.String(length=500), nullable=True))
    op.create_table('reply_template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_line_id', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['service_line_id'], ['service_line.id'],
                            name=op.f('fk_reply_template_service_line_id_service_line'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reply_template')),
    sa.UniqueConstraint('service_line_id', 'language', 'title',
                        name=op.f('uq_reply_template_service_line_id_language_title'))
    )
    with op.batch_alter_table('reply_template', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reply_template_service_line_id'), ['service_line_id'], unique=False)


def downgrade():
    with op.batch_alter_table('reply_template', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reply_template_service_line_id'))
    op.drop_table('reply_template')
    with op.batch_alter_table('service_line', schema=None) as batch_op:
        batch_op.drop_column('privacy_notice_url')
