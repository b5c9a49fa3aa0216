"""merging and splitting cases: the merged case's pointer to its survivor, the record of each
merge and split, and the lines that allow merging across lines; customer records linked as one person

Revision ID: m25_merge_split
Revises: f21_full_text_search
Create Date: 2026-11-30 03:30:00
"""
import importlib.util
from pathlib import Path

from alembic import op
import sqlalchemy as sa


revision = 'm25_merge_split'
down_revision = 'f21_full_text_search'
branch_labels = None
depends_on = None


def _search_triggers():
    spec = importlib.util.spec_from_file_location("f21_full_text_search",
                                                  Path(__file__).with_name("f21_full_text_search.py"))
    search = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(search)
    return search.sqlite_triggers()


def _without_search_triggers():
    """On SQLite, batch_alter_table rebuilds "case" and customer by copying them, which drops
    their full-text search triggers and fails on the others that name the table being renamed:
    every trigger of f21_full_text_search goes first and comes back after."""
    if op.get_bind().dialect.name == "sqlite":
        for name, _ in _search_triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {name}")


def _search_triggers_again():
    if op.get_bind().dialect.name == "sqlite":
        for name, body in _search_triggers():
            op.execute(f"CREATE TRIGGER {name} {body}")


def upgrade():
    _without_search_triggers()
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_case_merged_into_id_case'), 'case', ['merged_into_id'], ['id'],
                                    ondelete='CASCADE')
        batch_op.create_index(batch_op.f('ix_case_merged_into_id'), ['merged_into_id'], unique=False)
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_customer_merged_into_id_customer'), 'customer', ['merged_into_id'],
                                    ['id'], ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_customer_merged_into_id'), ['merged_into_id'], unique=False)
    with op.batch_alter_table('service_line', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merge_across_lines', sa.Boolean(), server_default=sa.text('false'),
                                      nullable=False))
    op.create_table(
        'case_merge',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('source_id', sa.Integer(), nullable=False),
        sa.Column('target_id', sa.Integer(), nullable=False),
        sa.Column('moved', sa.JSON(), nullable=False),
        sa.Column('by_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('undone_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['by_id'], ['official.id'], name=op.f('fk_case_merge_by_id_official'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['source_id'], ['case.id'], name=op.f('fk_case_merge_source_id_case'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['target_id'], ['case.id'], name=op.f('fk_case_merge_target_id_case'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['undone_by_id'], ['official.id'], name=op.f('fk_case_merge_undone_by_id_official'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_case_merge')),
    )
    with op.batch_alter_table('case_merge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_merge_source_id'), ['source_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_case_merge_target_id'), ['target_id'], unique=False)
    _search_triggers_again()


def downgrade():
    _without_search_triggers()
    with op.batch_alter_table('case_merge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_merge_target_id'))
        batch_op.drop_index(batch_op.f('ix_case_merge_source_id'))
    op.drop_table('case_merge')
    with op.batch_alter_table('service_line', schema=None) as batch_op:
        batch_op.drop_column('merge_across_lines')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_merged_into_id'))
        batch_op.drop_constraint(op.f('fk_customer_merged_into_id_customer'), type_='foreignkey')
        batch_op.drop_column('merged_into_id')
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_merged_into_id'))
        batch_op.drop_constraint(op.f('fk_case_merged_into_id_case'), type_='foreignkey')
        batch_op.drop_column('merged_into_id')
    _search_triggers_again()
