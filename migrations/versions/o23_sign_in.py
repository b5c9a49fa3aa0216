"""sign-in: OpenID Connect subjects, TOTP second factor, recovery codes, sessions' details

Revision ID: o23_sign_in
Revises: t20_reply_templates
Create Date: 2026-11-29 23:30:00

Existing tokens become password sessions without a second factor: an admin or privacy officer
signed in before this is asked to enrol at their next request, as required by default.
"""
from alembic import op
import sqlalchemy as sa


revision = 'o23_sign_in'
down_revision = 't20_reply_templates'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('official', schema=None) as batch_op:
        batch_op.add_column(sa.Column('oidc_subject', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('totp_pending_secret', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_official_oidc_subject'), ['oidc_subject'])

    with op.batch_alter_table('auth_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('client', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('method', sa.String(length=16), server_default='password', nullable=False))
        batch_op.add_column(sa.Column('second_factor', sa.Boolean(), server_default=sa.text('false'),
                                      nullable=False))
        batch_op.add_column(sa.Column('oidc_sid', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_auth_token_oidc_sid'), ['oidc_sid'], unique=False)

    op.create_table('recovery_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('official_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['official_id'], ['official.id'], name=op.f('fk_recovery_code_official_id_official'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_recovery_code_code_hash'))
    )
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_code_official_id'), ['official_id'], unique=False)


def downgrade():
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_code_official_id'))
    op.drop_table('recovery_code')
    with op.batch_alter_table('auth_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_auth_token_oidc_sid'))
        for column in ('oidc_sid', 'second_factor', 'method', 'client', 'last_used_at'):
            batch_op.drop_column(column)
    with op.batch_alter_table('official', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_official_oidc_subject'), type_='unique')
        for column in ('totp_last_step', 'totp_pending_secret', 'totp_secret', 'oidc_subject'):
            batch_op.drop_column(column)
