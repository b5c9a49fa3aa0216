"""the search index takes new contacts and cases in one statement per INSERT, not per row

Revision ID: s30_search_set_based_insert
Revises: q22_queue_indexes
Create Date: 2026-11-30 14:10:00

Intake inserts a batch's contacts (and new cases) with one statement each. The row triggers of
f21_full_text_search ran a PL/pgSQL function per row that ran a DELETE of the row's earlier
entry (a new row has none), the case's language lookup and an INSERT, each a statement of its
own on the server. On INSERT the index is now written by a statement trigger from the inserted
rows (a transition table), in one INSERT ... SELECT, as the backfill did; updates and deletes
keep the row triggers. PostgreSQL only: SQLite's FTS triggers are unchanged.
"""
from alembic import op


revision = 's30_search_set_based_insert'
down_revision = 'q22_queue_indexes'
branch_labels = None
depends_on = None


# The DELETE first: a new row's id has no entry, unless one was left behind by a delete that
# did not fire the triggers (TRUNCATE, a restore); the new text replaces it, as search_put's
# did. One statement for all the rows, and no WAL when nothing is found (ON CONFLICT would
# write a second record for every row it inserts). Each row's case and customer are looked up
# by id, never joined: PL/pgSQL keeps a statement's plan for the session, and a join planned
# for the first statement's thousand rows could read the whole table for the next one's ten.
UPGRADE = r"""
CREATE FUNCTION search_on_contacts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM search_entry WHERE kind = 'contact' AND source_id = ANY (ARRAY(SELECT id FROM added));
  INSERT INTO search_entry (case_id, kind, source_id, body, tsv)
  SELECT case_id, 'contact', id, t,
         to_tsvector(search_config(coalesce(k.language, (SELECT c.language FROM "case" c WHERE c.id = k.case_id))), search_words(t))
    FROM (SELECT id, case_id, language, concat_ws(E'\n', subject, body) AS t FROM added) k
   WHERE btrim(t) <> '';
  RETURN NULL;
END $$;

CREATE FUNCTION search_on_cases_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM search_entry WHERE kind IN ('case', 'customer') AND source_id = ANY (ARRAY(SELECT id FROM added));
  INSERT INTO search_entry (case_id, kind, source_id, body, tsv)
  SELECT id, 'case', id, t, to_tsvector(search_config(language), search_words(t))
    FROM (SELECT id, language, concat_ws(E'\n', subject, question, answer) AS t FROM added) s
   WHERE btrim(t) <> '';
  INSERT INTO search_entry (case_id, kind, source_id, body, tsv)
  SELECT a.id, 'customer', a.id, p.t, to_tsvector('simple', search_words(p.t))
    FROM added a JOIN LATERAL (SELECT concat_ws(' ', name, email, phone) AS t FROM customer
                                WHERE customer.id = a.customer_id) p ON btrim(p.t) <> '';
  RETURN NULL;
END $$;

DROP TRIGGER search_contact ON contact;
CREATE TRIGGER search_contact AFTER DELETE OR UPDATE OF subject, body, language, case_id ON contact
  FOR EACH ROW EXECUTE FUNCTION search_on_contact();
CREATE TRIGGER search_contacts_added AFTER INSERT ON contact REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION search_on_contacts_added();

DROP TRIGGER search_case ON "case";
CREATE TRIGGER search_case AFTER DELETE OR UPDATE OF subject, question, answer, language, customer_id ON "case"
  FOR EACH ROW EXECUTE FUNCTION search_on_case();
CREATE TRIGGER search_cases_added AFTER INSERT ON "case" REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION search_on_cases_added();
"""

DOWNGRADE = r"""
DROP TRIGGER search_contacts_added ON contact;
DROP TRIGGER search_contact ON contact;
CREATE TRIGGER search_contact AFTER INSERT OR DELETE OR UPDATE OF subject, body, language, case_id ON contact
  FOR EACH ROW EXECUTE FUNCTION search_on_contact();
DROP TRIGGER search_cases_added ON "case";
DROP TRIGGER search_case ON "case";
CREATE TRIGGER search_case AFTER INSERT OR DELETE
    OR UPDATE OF subject, question, answer, language, customer_id ON "case"
  FOR EACH ROW EXECUTE FUNCTION search_on_case();
DROP FUNCTION search_on_contacts_added();
DROP FUNCTION search_on_cases_added();
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(UPGRADE)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DOWNGRADE)
