"""a case's id, and with it its reference, is never given again on SQLite

Revision ID: a32_case_ids_never_reused
Revises: s31_partial_null_indexes
Create Date: 2026-11-30 17:40:00

SQLite gives an INTEGER PRIMARY KEY without AUTOINCREMENT the largest id in use plus one. Once
the newest case was purged, the next case took its id, and its reference (year and id) in the
same year: an old email naming that reference would have threaded into a stranger's case, and
the audit log's entries about the purged case would have named the new one. AUTOINCREMENT
keeps the largest id ever given in sqlite_sequence. PostgreSQL's sequence never gives an id
twice: nothing changes there.
"""
import importlib.util
from pathlib import Path

from alembic import op


revision = 'a32_case_ids_never_reused'
down_revision = 's31_partial_null_indexes'
branch_labels = None
depends_on = None


def _merge_split_migration():
    # Its helpers drop every search trigger of f21_full_text_search before a table copy and
    # create them again after: the copy drops the table's own and fails on those naming it.
    spec = importlib.util.spec_from_file_location("m25_merge_split", Path(__file__).with_name("m25_merge_split.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rebuild_case(autoincrement: bool):
    if op.get_bind().dialect.name != "sqlite":
        return
    triggers = _merge_split_migration()
    triggers._without_search_triggers()
    with op.batch_alter_table('case', recreate='always', table_kwargs={'sqlite_autoincrement': autoincrement}):
        pass
    triggers._search_triggers_again()


def upgrade():
    _rebuild_case(True)


def downgrade():
    _rebuild_case(False)
