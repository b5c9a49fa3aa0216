"""a customer's name, phone and email are searched through the customer table; the text index
of search_entry leaves the customers' entries out

Revision ID: x32_customer_name_search
Revises: a32_case_ids_never_reused
Create Date: 2026-11-30 17:40:00

A surname is in one customer of twenty: through search_entry's GIN index its matches are one
entry per case, spread over every page of the table (the names are written with their cases,
among the messages), and reading them was most of a surname search's time at a million cases.
The customer table is a small fraction of that size, and one row serves all the customer's
cases. It gets the very tsvector the triggers write into its cases' 'customer' entries, which
stay for the snippets and the similar-word fallback. PostgreSQL only: SQLite's FTS5 table is
unchanged.
"""
from alembic import op
import sqlalchemy as sa


revision = 'x32_customer_name_search'
down_revision = 'a32_case_ids_never_reused'
branch_labels = None
depends_on = None

# The tsvector of a 'customer' entry is to_tsvector('simple', search_words(concat_ws(' ', name,
# email, phone))) (search_on_customer in f21_full_text_search). A generated column must be
# IMMUTABLE, and concat_ws is only STABLE: the NULLs it leaves out are empty strings here, which
# add spaces and no words, so the lexemes and their positions are the same. Stored, not an
# expression index: a search ranks up to 2,000 cases by it, and making it again for each took
# longer than the rest of the customers' part of the search (measured at 100,000 cases).
UPGRADE = r"""
ALTER TABLE customer ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS
  (to_tsvector('simple', search_words(coalesce(name, '') || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '')))) STORED;
CREATE INDEX ix_customer_search_tsv ON customer USING gin (search_tsv);
"""

DOWNGRADE = """
DROP INDEX ix_customer_search_tsv;
ALTER TABLE customer DROP COLUMN search_tsv;
"""

NOT_CUSTOMERS = sa.text("kind <> 'customer'")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(UPGRADE)
    op.drop_index('ix_search_entry_tsv', table_name='search_entry', postgresql_using='gin')
    op.create_index('ix_search_entry_tsv', 'search_entry', ['tsv'], postgresql_using='gin',
                    postgresql_where=NOT_CUSTOMERS)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index('ix_search_entry_tsv', table_name='search_entry', postgresql_using='gin')
    op.create_index('ix_search_entry_tsv', 'search_entry', ['tsv'], postgresql_using='gin')
    op.execute(DOWNGRADE)
