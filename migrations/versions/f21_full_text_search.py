"""full-text search: one index row per searchable text of a case, kept by the database itself

Revision ID: f21_full_text_search
Revises: v26_malware_scan
Create Date: 2026-11-30 03:30:00

Triggers on case, contact, note, attachment and customer write ``search_entry`` in the
statement that changes the text (or moves a contact, note or file to another case), so every
path (the ORM, intake's set-based batches, merges, SQL by hand) keeps the index, and a row's delete takes its text out of the index in the same
transaction. PostgreSQL keeps a ``tsvector`` stemmed by the case's language (``simple`` for
names, phone numbers and emails) under a GIN index; SQLite keeps an FTS5 table over
``search_entry`` (external content) synchronised by triggers of its own.

A later migration that rebuilds one of these tables on SQLite (``batch_alter_table`` with a
table copy) drops its triggers: it must create them again (``sqlite_triggers`` below).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = 'f21_full_text_search'
down_revision = 'v26_malware_scan'
branch_labels = None
depends_on = None


# --- PostgreSQL ------------------------------------------------------------------------------

PG_FUNCTIONS = r"""
CREATE FUNCTION search_config(language text) RETURNS regconfig
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE language WHEN 'fi' THEN 'finnish'::regconfig WHEN 'sv' THEN 'swedish'::regconfig
                       WHEN 'en' THEN 'english'::regconfig ELSE 'simple'::regconfig END
$$;

-- File names and codes: separators become spaces, so "muuttoilmoitus_2026.pdf" is three words.
CREATE FUNCTION search_words(body text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT regexp_replace(coalesce(body, ''), '[_.\-/]+', ' ', 'g') $$;

CREATE FUNCTION search_put(p_case_id integer, p_kind text, p_source_id integer, p_body text,
                           p_config regconfig) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM search_entry WHERE kind = p_kind AND source_id = p_source_id;
  IF p_body IS NOT NULL AND btrim(p_body) <> '' THEN
    INSERT INTO search_entry (case_id, kind, source_id, body, tsv)
    VALUES (p_case_id, p_kind, p_source_id, p_body, to_tsvector(p_config, search_words(p_body)));
  END IF;
END $$;

CREATE FUNCTION search_case_language(p_case_id integer) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT language FROM "case" WHERE id = p_case_id $$;

CREATE FUNCTION search_customer_text(p_customer_id integer) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT concat_ws(' ', name, email, phone) FROM customer WHERE id = p_customer_id
$$;

CREATE FUNCTION search_on_contact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM search_entry WHERE kind = 'contact' AND source_id = OLD.id;
    RETURN NULL;
  END IF;
  PERFORM search_put(NEW.case_id, 'contact', NEW.id, concat_ws(E'\n', NEW.subject, NEW.body),
                     search_config(coalesce(NEW.language, search_case_language(NEW.case_id))));
  RETURN NULL;
END $$;

CREATE FUNCTION search_on_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM search_entry WHERE kind = 'note' AND source_id = OLD.id;
    RETURN NULL;
  END IF;
  PERFORM search_put(NEW.case_id, 'note', NEW.id, NEW.body,
                     search_config(search_case_language(NEW.case_id)));
  RETURN NULL;
END $$;

CREATE FUNCTION search_on_attachment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM search_entry WHERE kind = 'attachment' AND source_id = OLD.id;
    RETURN NULL;
  END IF;
  PERFORM search_put(NEW.case_id, 'attachment', NEW.id, NEW.filename,
                     search_config(search_case_language(NEW.case_id)));
  RETURN NULL;
END $$;

CREATE FUNCTION search_on_case() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM search_entry WHERE case_id = OLD.id;
    RETURN NULL;
  END IF;
  PERFORM search_put(NEW.id, 'case', NEW.id, concat_ws(E'\n', NEW.subject, NEW.question, NEW.answer),
                     search_config(NEW.language));
  IF TG_OP = 'INSERT' OR NEW.customer_id IS DISTINCT FROM OLD.customer_id THEN
    PERFORM search_put(NEW.id, 'customer', NEW.id, search_customer_text(NEW.customer_id), 'simple');
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.language IS DISTINCT FROM OLD.language THEN
    UPDATE search_entry SET tsv = to_tsvector(search_config(NEW.language), search_words(body))
     WHERE case_id = NEW.id AND kind IN ('note', 'attachment');
    UPDATE search_entry e
       SET tsv = to_tsvector(search_config(coalesce(c.language, NEW.language)), search_words(e.body))
      FROM contact c
     WHERE e.case_id = NEW.id AND e.kind = 'contact' AND c.id = e.source_id;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION search_on_customer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  words text := concat_ws(' ', NEW.name, NEW.email, NEW.phone);
BEGIN
  UPDATE search_entry SET body = words, tsv = to_tsvector('simple', search_words(words))
   WHERE kind = 'customer' AND case_id IN (SELECT id FROM "case" WHERE customer_id = NEW.id);
  RETURN NULL;
END $$;

CREATE TRIGGER search_contact AFTER INSERT OR DELETE OR UPDATE OF subject, body, language, case_id ON contact
  FOR EACH ROW EXECUTE FUNCTION search_on_contact();
CREATE TRIGGER search_note AFTER INSERT OR DELETE OR UPDATE OF body, case_id ON note
  FOR EACH ROW EXECUTE FUNCTION search_on_note();
CREATE TRIGGER search_attachment AFTER INSERT OR DELETE OR UPDATE OF filename, case_id ON attachment
  FOR EACH ROW EXECUTE FUNCTION search_on_attachment();
CREATE TRIGGER search_case AFTER INSERT OR DELETE
    OR UPDATE OF subject, question, answer, language, customer_id ON "case"
  FOR EACH ROW EXECUTE FUNCTION search_on_case();
CREATE TRIGGER search_customer AFTER UPDATE OF name, email, phone ON customer
  FOR EACH ROW EXECUTE FUNCTION search_on_customer();
"""

PG_DROP = """
DROP TRIGGER IF EXISTS search_contact ON contact;
DROP TRIGGER IF EXISTS search_note ON note;
DROP TRIGGER IF EXISTS search_attachment ON attachment;
DROP TRIGGER IF EXISTS search_case ON "case";
DROP TRIGGER IF EXISTS search_customer ON customer;
DROP FUNCTION IF EXISTS search_on_contact();
DROP FUNCTION IF EXISTS search_on_note();
DROP FUNCTION IF EXISTS search_on_attachment();
DROP FUNCTION IF EXISTS search_on_case();
DROP FUNCTION IF EXISTS search_on_customer();
DROP FUNCTION IF EXISTS search_put(integer, text, integer, text, regconfig);
DROP FUNCTION IF EXISTS search_case_language(integer);
DROP FUNCTION IF EXISTS search_customer_text(integer);
DROP FUNCTION IF EXISTS search_words(text);
DROP FUNCTION IF EXISTS search_config(text);
"""

# Existing rows, in four set-based statements rather than through the triggers.
PG_BACKFILL = r"""
INSERT INTO search_entry (case_id, kind, source_id, body, tsv)
SELECT id, 'case', id, t, to_tsvector(search_config(language), search_words(t))
  FROM (SELECT id, language, concat_ws(E'\n', subject, question, answer) AS t FROM "case") s
 WHERE btrim(t) <> '';
INSERT INTO search_entry (case_id, kind, source_id, body, tsv)
SELECT c.id, 'customer', c.id, t, to_tsvector('simple', search_words(t))
  FROM "case" c JOIN LATERAL (SELECT concat_ws(' ', name, email, phone) AS t FROM customer
                               WHERE customer.id = c.customer_id) p ON btrim(p.t) <> '';
INSERT INTO search_entry (case_id, kind, source_id, body, tsv)
SELECT k.case_id, 'contact', k.id, t, to_tsvector(search_config(coalesce(k.language, c.language)), search_words(t))
  FROM (SELECT id, case_id, language, concat_ws(E'\n', subject, body) AS t FROM contact) k
  JOIN "case" c ON c.id = k.case_id WHERE btrim(t) <> '';
INSERT INTO search_entry (case_id, kind, source_id, body, tsv)
SELECT n.case_id, 'note', n.id, n.body, to_tsvector(search_config(c.language), search_words(n.body))
  FROM note n JOIN "case" c ON c.id = n.case_id WHERE btrim(n.body) <> '';
INSERT INTO search_entry (case_id, kind, source_id, body, tsv)
SELECT a.case_id, 'attachment', a.id, a.filename, to_tsvector(search_config(c.language), search_words(a.filename))
  FROM attachment a JOIN "case" c ON c.id = a.case_id;
"""


# --- SQLite ----------------------------------------------------------------------------------

# FTS5 has no stemmer for Finnish or Swedish: words are folded (case, diacritics) and matched by
# prefix at query time (service/search/query.py). The FTS table reads its text from search_entry.
SQLITE_FTS = """
CREATE VIRTUAL TABLE search_fts USING fts5(
  body, content='search_entry', content_rowid='id', tokenize='unicode61 remove_diacritics 2',
  prefix='3 5'
)
"""

# (trigger name, statement) pairs; a table rebuilt by a later migration needs its own again.
def sqlite_triggers():
    def put(kind, source, case_id, body):
        return (f"DELETE FROM search_entry WHERE kind = '{kind}' AND source_id = {source};"
                f" INSERT INTO search_entry (case_id, kind, source_id, body)"
                f" SELECT {case_id}, '{kind}', {source}, b FROM (SELECT {body} AS b)"
                f" WHERE b IS NOT NULL AND trim(b) <> '';")

    customer_text = ("(SELECT nullif(trim(coalesce(name, '') || ' ' || coalesce(email, '') || ' ' ||"
                     " coalesce(phone, ''), char(32, 9, 10, 13)), '') FROM customer WHERE id = NEW.customer_id)")
    case_text = ("nullif(trim(coalesce(NEW.subject, '') || char(10) || coalesce(NEW.question, '') || char(10) ||"
                 " coalesce(NEW.answer, ''), char(32, 9, 10, 13)), '')")
    contact_text = "nullif(trim(coalesce(NEW.subject, '') || char(10) || coalesce(NEW.body, ''), char(32, 9, 10, 13)), '')"
    return [
        ("search_fts_ai", "AFTER INSERT ON search_entry BEGIN"
         " INSERT INTO search_fts(rowid, body) VALUES (NEW.id, NEW.body); END"),
        ("search_fts_ad", "AFTER DELETE ON search_entry BEGIN"
         " INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', OLD.id, OLD.body); END"),
        ("search_fts_au", "AFTER UPDATE ON search_entry BEGIN"
         " INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', OLD.id, OLD.body);"
         " INSERT INTO search_fts(rowid, body) VALUES (NEW.id, NEW.body); END"),
        ("search_contact_ai", "AFTER INSERT ON contact BEGIN "
         + put("contact", "NEW.id", "NEW.case_id", contact_text) + " END"),
        ("search_contact_au", "AFTER UPDATE OF subject, body, case_id ON contact BEGIN "
         + put("contact", "NEW.id", "NEW.case_id", contact_text) + " END"),
        ("search_contact_ad", "AFTER DELETE ON contact BEGIN"
         " DELETE FROM search_entry WHERE kind = 'contact' AND source_id = OLD.id; END"),
        ("search_note_ai", "AFTER INSERT ON note BEGIN " + put("note", "NEW.id", "NEW.case_id", "NEW.body") + " END"),
        ("search_note_au", "AFTER UPDATE OF body, case_id ON note BEGIN "
         + put("note", "NEW.id", "NEW.case_id", "NEW.body") + " END"),
        ("search_note_ad", "AFTER DELETE ON note BEGIN"
         " DELETE FROM search_entry WHERE kind = 'note' AND source_id = OLD.id; END"),
        ("search_attachment_ai", "AFTER INSERT ON attachment BEGIN "
         + put("attachment", "NEW.id", "NEW.case_id", "NEW.filename") + " END"),
        ("search_attachment_au", "AFTER UPDATE OF filename, case_id ON attachment BEGIN "
         + put("attachment", "NEW.id", "NEW.case_id", "NEW.filename") + " END"),
        ("search_attachment_ad", "AFTER DELETE ON attachment BEGIN"
         " DELETE FROM search_entry WHERE kind = 'attachment' AND source_id = OLD.id; END"),
        ("search_case_ai", "AFTER INSERT ON \"case\" BEGIN " + put("case", "NEW.id", "NEW.id", case_text)
         + " " + put("customer", "NEW.id", "NEW.id", customer_text) + " END"),
        ("search_case_au", "AFTER UPDATE OF subject, question, answer ON \"case\" BEGIN "
         + put("case", "NEW.id", "NEW.id", case_text) + " END"),
        ("search_case_customer_au", "AFTER UPDATE OF customer_id ON \"case\" BEGIN "
         + put("customer", "NEW.id", "NEW.id", customer_text) + " END"),
        ("search_case_ad", "AFTER DELETE ON \"case\" BEGIN DELETE FROM search_entry WHERE case_id = OLD.id; END"),
        ("search_customer_au", "AFTER UPDATE OF name, email, phone ON customer BEGIN"
         " UPDATE search_entry SET body = nullif(trim(coalesce(NEW.name, '') || ' ' || coalesce(NEW.email, '')"
         " || ' ' || coalesce(NEW.phone, ''), char(32, 9, 10, 13)), '')"
         " WHERE kind = 'customer' AND case_id IN (SELECT id FROM \"case\" WHERE customer_id = NEW.id); END"),
    ]


SQLITE_BACKFILL = """
INSERT INTO search_entry (case_id, kind, source_id, body)
SELECT id, 'case', id, t FROM (SELECT id, trim(coalesce(subject, '') || char(10) || coalesce(question, '')
  || char(10) || coalesce(answer, ''), char(32, 9, 10, 13)) AS t FROM "case") WHERE t <> '';
INSERT INTO search_entry (case_id, kind, source_id, body)
SELECT c.id, 'customer', c.id, t FROM "case" c JOIN (SELECT id, trim(coalesce(name, '') || ' ' ||
  coalesce(email, '') || ' ' || coalesce(phone, ''), char(32, 9, 10, 13)) AS t FROM customer) p ON p.id = c.customer_id WHERE t <> '';
INSERT INTO search_entry (case_id, kind, source_id, body)
SELECT case_id, 'contact', id, t FROM (SELECT id, case_id, trim(coalesce(subject, '') || char(10) ||
  coalesce(body, ''), char(32, 9, 10, 13)) AS t FROM contact) WHERE t <> '';
INSERT INTO search_entry (case_id, kind, source_id, body)
SELECT case_id, 'note', id, body FROM note WHERE trim(body) <> '';
INSERT INTO search_entry (case_id, kind, source_id, body)
SELECT case_id, 'attachment', id, filename FROM attachment;
"""


def _statements(script):
    return [s.strip() for s in script.split(";\n") if s.strip()]


def _trigram_index():
    """Trigrams of every text, for what the stems miss (the end of a compound, a typo): where
    pg_trgm is installed or may be (it is a trusted extension from PostgreSQL 13: the database
    owner may create it). Without it the search works on stems alone."""
    bind = op.get_bind()
    if not bind.execute(sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar():
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        return
    op.execute("CREATE INDEX ix_search_entry_trgm ON search_entry USING gin (body gin_trgm_ops)")


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        'search_entry',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('source_id', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('tsv', postgresql.TSVECTOR() if postgres else sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['case.id'], name=op.f('fk_search_entry_case_id_case'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_search_entry')),
        sa.UniqueConstraint('kind', 'source_id', name=op.f('uq_search_entry_kind_source_id')),
    )
    op.create_index('ix_search_entry_case_id', 'search_entry', ['case_id'], unique=False)
    if postgres:
        op.create_index('ix_search_entry_tsv', 'search_entry', ['tsv'], unique=False, postgresql_using='gin')
        op.execute(PG_FUNCTIONS)
        for statement in _statements(PG_BACKFILL):
            op.execute(statement)
        _trigram_index()
    else:
        op.execute(SQLITE_FTS)
        for name, body in sqlite_triggers():
            op.execute(f"CREATE TRIGGER {name} {body}")
        for statement in _statements(SQLITE_BACKFILL):
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_DROP)
        # pg_trgm stays installed: something else may use it.
        op.execute("DROP INDEX IF EXISTS ix_search_entry_trgm")
        op.drop_index('ix_search_entry_tsv', table_name='search_entry', postgresql_using='gin')
    else:
        for name, _ in sqlite_triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE search_fts")
    op.drop_index('ix_search_entry_case_id', table_name='search_entry')
    op.drop_table('search_entry')
