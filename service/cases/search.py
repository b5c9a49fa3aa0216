"""Full-text search over the cases an official may see.

The index is ``search_entry`` (service/cases/models.py), kept by database triggers. A case
matches when each word of the search matches some text of the case (its subject, question or
answer, its customer, a contact, a note, an attachment's name), or when the search is the
case's reference or its customer's exact phone number or email. Ranked by the best matching
text; each hit carries a snippet of that text with the matching words marked.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Callable, TypeVar

from sqlalchemy import (Text, and_, bindparam, cast, column, func, literal, literal_column, not_, or_, select, table,
                        text, true, union_all)
from sqlalchemy.dialects.postgresql import ARRAY, TSQUERY, TSVECTOR
from sqlalchemy.exc import OperationalError

from ..customers.models import Customer
from ..customers.normalise import email_or_none, phone_or_none
from ..extensions import db
from . import search_terms
from .models import Case, SearchEntry

log = logging.getLogger(__name__)
T = TypeVar("T")
# PostgreSQL's SQLSTATE for a statement cancelled by its statement_timeout.
QUERY_CANCELED = "57014"

# A reference or an exact phone number or email names the case: it ranks above any text match.
EXACT = 1000.0
# The newest texts a search ranks. A word in a large share of all texts would otherwise have
# every one of them read and ranked (seconds at a million cases); newest first, the database
# reads the primary key backwards and stops after this many, or the text index for a rarer
# word. So a very common word finds its newest cases only; filters narrow it.
CANDIDATES = 2000
# How far past the break-even point (see through_the_index) matches are still collected
# through the text index rather than by walking the newest texts.
INDEX_FIRST = 1.0
# What walking a case costs against reading one through an index, for the customers' part.
CASE_WALKED = 1 / 15

_fts = table("search_fts", column("rowid"), column("rank"))
# The tsvector of a customer's name, email and phone, as their cases' 'customer' entries hold it:
# a generated column on PostgreSQL only (migration x32_customer_name_search), not in the model.
_CUSTOMER_TSV = literal_column("customer.search_tsv", TSVECTOR)
# Made once: an alias of the case table builds a copy of each of its columns, a few
# milliseconds a search.
_MERGED = Case.__table__.alias("merged")


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def plan(q: str) -> list[list[str]]:
    """The prefixes of each word of ``q`` (one group per word)."""
    words = search_terms.words(q)
    if not words:
        return []
    if _dialect() != "postgresql":
        return [search_terms.prefixes(w) for w in words]
    rows = db.session.execute(
        text("SELECT w, ts_lexize('finnish_stem', w), ts_lexize('swedish_stem', w), ts_lexize('english_stem', w)"
             " FROM unnest(:words) AS w").bindparams(bindparam("words", words, type_=ARRAY(Text)))
    ).all()
    stems = {row[0]: [s for found in row[1:] for s in (found or [])] for row in rows}
    # A word every stemmer calls a stop word ("ja", "och", "the") is not in the index at all.
    kept = [w for w in words if not _stop_word(rows, w)]
    return [search_terms.prefixes(w, stems.get(w, [])) for w in (kept or words)]


def _stop_word(rows, word) -> bool:
    for row in rows:
        if row[0] == word:
            return all(found is not None and len(found) == 0 for found in row[1:])
    return False


def ranked_cases(q: str, region: str):
    """A subquery of (case_id, rank) for every case ``q`` matches, lines not yet applied."""
    q = q.strip()
    groups = plan(q)
    parts = _exact(q, region)
    if groups:
        parts.append(_postgres_text(groups) if _dialect() == "postgresql" else _sqlite_text(groups))
    found = union_all(*parts).subquery("found")
    return (select(found.c.case_id, func.max(found.c.rank).label("rank"))
            .group_by(found.c.case_id).subquery("ranked")), groups


def _exact(q: str, region: str):
    customer_match = []
    as_phone, as_email = phone_or_none(q, region), email_or_none(q)
    if as_phone:
        customer_match.append(Customer.phone == as_phone)
    if as_email:
        customer_match.append(Customer.email == as_email)
    reference = q.lstrip("#")
    # One SELECT per way of matching, not one OR: PostgreSQL cannot use an index for an OR
    # whose arm is a subquery, and read every case (about 130 ms at a million cases).
    conditions = [Case.reference == reference,
                  # A merged case's reference finds the case it was merged into.
                  Case.id.in_(select(_MERGED.c.merged_into_id).where(_MERGED.c.reference == reference))]
    if customer_match:
        customers = select(Customer.id).where(or_(*customer_match))
        conditions.append(Case.customer_id.in_(customers))
        # A merged case's messages live on in its survivor: its sender's number or address
        # finds that case, as its reference does.
        conditions.append(Case.id.in_(select(_MERGED.c.merged_into_id).where(_MERGED.c.customer_id.in_(customers))))
    return [select(Case.id.label("case_id"), literal(EXACT).label("rank")).where(condition)
            for condition in conditions]


def _constant(parsed: str):
    # Written into the statement, not bound: a bound query in a statement prepared after a few
    # runs (psycopg does) may be planned generically, as if it matched a default share of all
    # texts, whatever the word.
    return cast(literal(parsed, Text).render_literal_execute(), TSQUERY)


def _parsed(queries: list[str]) -> tuple[dict[str, float], list[str]]:
    """The sizes of search_entry, case and customer as the planner knows them (-1 before their
    first ANALYZE), and each query as to_tsquery('simple', ...) parses it. The statement then
    holds the parsed queries as constants: to_tsquery in a filter is run again for every text
    read, which was half the time of walking the newest texts."""
    *sizes, parsed = db.session.execute(
        text("SELECT " + ", ".join(f"(SELECT reltuples FROM pg_class WHERE oid = to_regclass('{t}'))"
                                   for t in ("search_entry", '"case"', "customer")) +
             ", ARRAY(SELECT to_tsquery('simple', q)::text"
             "        FROM unnest(:queries) WITH ORDINALITY AS u(q, n) ORDER BY n)")
        .bindparams(bindparam("queries", queries, type_=ARRAY(Text)))).one()
    sizes = {t: float(size if size is not None else -1) for t, size in zip(("texts", "cases", "customers"), sizes)}
    return sizes, list(parsed)


def _estimate(parsed: str) -> float:
    """How many texts the planner expects ``parsed`` to match (from the statistics of the index's
    most common words): planning only, nothing is read."""
    plan = db.session.execute(
        text("EXPLAIN (FORMAT JSON) SELECT 1 FROM search_entry WHERE kind <> 'customer' AND tsv @@ CAST(:q AS tsquery)"),
        {"q": parsed}).scalar()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return float(plan[0]["Plan"]["Plan Rows"])


def through_the_index(matches: float, total: float) -> bool:
    """Whether to collect the about ``matches`` texts a query matches through the text index and
    keep the newest CANDIDATES of them, rather than walk the texts newest first until CANDIDATES
    match, in an index of ``total`` texts.

    The walk reads about CANDIDATES * total / matches texts if the matches are spread evenly
    over time; the index way reads every match. So the index way is the cheaper one below
    sqrt(CANDIDATES * total) matches (118,000 of 7,000,000 texts), if a text costs both ways the
    same. It does not (reading a match through the index cost 1 to 5 times a walked text, at
    100,000 cases), but matches are not spread evenly either: a customer's name is written with
    the case, before its messages, and walking for a surname read 5,100,000 texts at a million
    cases (3.4 s). INDEX_FIRST weighs the two."""
    if total <= 0:
        # Never analysed: a new or small index, which the index way reads quickly.
        return True
    return matches * matches <= INDEX_FIRST * CANDIDATES * total


def customers_through_the_index(found, break_even: int):
    """SQL: whether to collect the cases of the ``found`` customers a query matches (a count,
    in the statement) through the case table's index on customer_id, rather than walk the cases
    newest first (fewer than ``break_even``, see _postgres_text)."""
    return found < break_even


def _postgres_text(groups):
    words = [search_terms.tsquery([g]) for g in groups]
    wanted = [" | ".join(words)] + ([search_terms.tsquery(groups)] if len(groups) > 1 else [])
    sizes, parsed = _parsed(words + wanted)
    total = sizes["texts"]
    word_queries = [_constant(p) for p in parsed[:len(words)]]
    everything = _constant(parsed[len(words)])
    estimates = [_estimate(p) for p in parsed[:len(words)]] if total > 0 else [0.0] * len(words)

    def ranked(source):
        # Ranked and flagged after the cut: CANDIDATES texts at most, whichever way they came.
        return [func.ts_rank(source.tsv, everything).label("rank"),
                *[source.tsv.op("@@")(q).label(f"w{i}") for i, q in enumerate(word_queries)]]

    def candidates(query: str, matches: float):
        # Written in, not bound, like the query: the text index leaves the customers' entries out,
        # and the planner uses it only for a condition it can see implies that.
        matching = and_(SearchEntry.kind != literal_column("'customer'"), SearchEntry.tsv.op("@@")(_constant(query)))
        if through_the_index(matches, total):
            # OFFSET 0 keeps the planner from walking the primary key for the ORDER BY and
            # LIMIT outside: the matches come from a bitmap scan of the text index.
            found = select(SearchEntry.id, SearchEntry.case_id, SearchEntry.tsv).where(matching).offset(0)
            found = found.subquery("matches")
            newest = select(found).order_by(found.c.id.desc()).limit(CANDIDATES).subquery("newest")
            return select(newest.c.case_id, *ranked(newest.c))
        return (select(SearchEntry.case_id, *ranked(SearchEntry))
                .where(matching).order_by(SearchEntry.id.desc()).limit(CANDIDATES))

    # A customer's name, phone and email: through the customer table's own index of the same
    # tsvector as its cases' 'customer' entries (one short row per customer, where the entries
    # are one per case, spread over all of search_entry's pages). Their newest CANDIDATES cases
    # are collected one of two ways too, chosen from how many cases the customers found have
    # (counted, times the cases a customer has on average).
    cases, people = sizes["cases"], sizes["customers"]
    per_customer = cases / people if cases > 0 and people > 0 else 1.0
    # Matching cases below which each customer's cases are read through the case table's index
    # on customer_id rather than walking the cases newest first: as in through_the_index, but
    # a case walked costs a fifteenth of one read through the index or less (a surname at
    # 100,000 cases: 12-15 ms walking 28,000 cases, 35-70 ms reading its 5,012 cases by customer).
    break_even = int(math.sqrt(CANDIDATES * max(cases, 0.0) * CASE_WALKED) / per_customer) + 1

    def customers(query: str, n: int):
        # The customers found, read once (a CTE named twice is materialised) for both their
        # count and their cases. Counted, not estimated: for a prefix (``korho:*``) the planner
        # guessed a fixed 2% (1,000 customers where 2,506 matched), its statistics holding too
        # few common words for an estimate of a prefix. The count chooses the way in the
        # statement (a one-time filter: the other way is never run), where a statement of its
        # own read the customers' index once more, 8-12 ms of a surname's search at a million cases.
        found = select(Customer.id).where(_CUSTOMER_TSV.op("@@")(_constant(query))).cte(f"found_customers_{n}")
        # A case table never analysed (a small new one) counts as none: each customer's cases.
        how_many = (select(func.count()).select_from(select(found.c.id).limit(break_even).subquery(f"counted_{n}"))
                    .scalar_subquery() if cases > 0 else literal(0))
        through_the_index = customers_through_the_index(how_many, break_even)
        # Each customer's newest cases (LIMIT keeps it a loop over the customers: as a join,
        # the planner read every case), then the newest of them all.
        theirs = (select(Case.id, Case.customer_id).where(Case.customer_id == found.c.id)
                  .order_by(Case.id.desc()).limit(CANDIDATES).lateral(f"theirs_{n}"))
        by_customer = (select(theirs.c.id, theirs.c.customer_id).join_from(found, theirs, true())
                       .where(through_the_index).order_by(theirs.c.id.desc()).limit(CANDIDATES))
        # The cases walked newest first, each looked up in a hash of the customers found.
        # IS TRUE keeps the IN a filter: as a join, the planner read every case.
        walked = (select(Case.id, Case.customer_id).where(Case.customer_id.in_(select(found.c.id)).is_(True))
                  .where(not_(through_the_index)).order_by(Case.id.desc()).limit(CANDIDATES))
        newest = union_all(by_customer, walked).subquery(f"newest_of_customers_{n}")
        # Each case's customer looked up by id (as a join, the planner read every customer), once
        # (OFFSET 0) for the rank and the flags.
        tsv = select(_CUSTOMER_TSV).where(Customer.id == newest.c.customer_id).scalar_subquery()
        named = select(newest.c.id.label("case_id"), tsv.label("tsv")).offset(0).subquery(f"named_{n}")
        return select(named.c.case_id, *ranked(named.c))

    # Texts holding any word: at most as many as all the words' matches together (and the text
    # index reads every word's list of texts). With several words, also the texts holding
    # every word, so that the newest texts holding any one of them (all of one common word, say)
    # do not crowd them out: at most as many as the rarest word's, the planner's own estimate
    # of an AND being too low for words often written together ("passi Tampereelle").
    # The customers' texts are searched apart, for the same two queries.
    queries = [(parsed[len(words)], sum(estimates))]
    if len(words) > 1:
        queries.append((parsed[len(words) + 1], min(estimates)))
    parts = [part for n, (query, matches) in enumerate(queries)
             for part in (candidates(query, matches), customers(query, n))]
    hits = union_all(*parts).subquery("hits") if len(parts) > 1 else parts[0].subquery("hits")
    return (select(hits.c.case_id, func.max(hits.c.rank).label("rank"))
            .group_by(hits.c.case_id)
            .having(and_(*[func.bool_or(hits.c[f"w{i}"]) for i in range(len(groups))])))


def _sqlite_text(groups):
    def matching(expression):
        return (select(SearchEntry.case_id, (-_fts.c.rank).label("rank"))
                .select_from(_fts.join(SearchEntry, SearchEntry.id == _fts.c.rowid))
                .where(literal_column("search_fts").op("MATCH")(expression))
                .order_by(_fts.c.rowid.desc()).limit(CANDIDATES))

    everything = " OR ".join(f"({search_terms.fts5_query(g)})" for g in groups)
    hits = matching(everything).subquery("hits")
    query = select(hits.c.case_id, func.max(hits.c.rank).label("rank")).group_by(hits.c.case_id)
    if len(groups) == 1:
        return query
    for group in groups:
        word = matching(search_terms.fts5_query(group)).subquery()
        query = query.where(hits.c.case_id.in_(select(word.c.case_id)))
    # Texts holding every word, as on PostgreSQL, so common words do not crowd them out.
    together = matching(" AND ".join(f"({search_terms.fts5_query(g)})" for g in groups)).subquery("together")
    both = union_all(query, select(together.c.case_id, func.max(together.c.rank).label("rank"))
                     .group_by(together.c.case_id)).subquery("both")
    return select(both.c.case_id, both.c.rank)


def names_one_person(q: str, region: str) -> bool:
    """Whether ``q`` is a phone number or an email address. Either names one person exactly, so
    a near miss of it (a digit or a letter off) is someone else, never a match."""
    q = q.strip()
    return bool(phone_or_none(q, region) or email_or_none(q))


def has_trigrams() -> bool:
    """Whether this database has the trigram index (PostgreSQL with pg_trgm, see the migration)."""
    if _dialect() != "postgresql":
        return False
    return bool(db.session.scalar(text("SELECT to_regclass('ix_search_entry_trgm') IS NOT NULL")))


def within_milliseconds(budget: int, run: Callable[[], T]) -> T | None:
    """What ``run`` answers, or None when its statements ran past ``budget`` milliseconds and
    PostgreSQL cancelled them (in a savepoint, so the request's transaction goes on). Elsewhere
    ``run`` just runs."""
    if _dialect() != "postgresql":
        return run()
    try:
        with db.session.begin_nested():
            db.session.execute(text(f"SET LOCAL statement_timeout = {int(budget)}"))
            answer = run()
            # Released, the savepoint keeps its settings for the rest of the transaction.
            db.session.execute(text("SET LOCAL statement_timeout TO DEFAULT"))
            return answer
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) != QUERY_CANCELED:
            raise
        log.warning("a similar-word search stopped at its budget of %d ms and found nothing", budget)
        return None


def similar_cases(q: str):
    """The fallback when the stems find nothing: a subquery of (case_id, rank) for the cases
    with, for every word of ``q``, a text holding a similar piece (pg_trgm's word similarity:
    the end of a compound, a typo). Ranked by that similarity."""
    words = search_terms.words(q)
    if not words:
        return None
    checks = [literal(w).op("<%")(SearchEntry.body) for w in words]
    hits = (select(SearchEntry.case_id,
                   (sum((func.word_similarity(w, SearchEntry.body) for w in words), literal(0.0))).label("rank"),
                   *[check.label(f"w{i}") for i, check in enumerate(checks)])
            .where(or_(*checks))
            .order_by(SearchEntry.case_id.desc()).limit(CANDIDATES)).subquery("similar")
    return (select(hits.c.case_id, func.max(hits.c.rank).label("rank"))
            .group_by(hits.c.case_id)
            .having(and_(*[func.bool_or(hits.c[f"w{i}"]) for i in range(len(words))]))).subquery("ranked")


def snippets(case_ids: list[int], groups: list[list[str]], *, inside: bool = False) -> dict[int, dict]:
    """For each case, the text that matches the most words of the search, with the matching
    words marked. Read by case id (a page's worth of rows), not through the text index: a
    common word would have the index walk every text that holds it."""
    if not case_ids or not groups:
        return {}
    rows = db.session.execute(
        select(SearchEntry.case_id, SearchEntry.kind, SearchEntry.body)
        .where(SearchEntry.case_id.in_(case_ids)).order_by(SearchEntry.case_id, SearchEntry.id))
    best: dict[int, tuple[int, str, str]] = {}
    for case_id, kind, body in rows:
        score = search_terms.words_matched(body, groups, inside=inside)
        # A similar-word search may match a text none of whose words holds the typed one: the
        # case's first text is shown then, with nothing marked.
        if (score or inside) and (case_id not in best or score > best[case_id][0]):
            best[case_id] = (score, kind, body)
    return {case_id: {"source": kind, **search_terms.highlight(body, groups, inside=inside)}
            for case_id, (_, kind, body) in best.items()}
