"""Full-text search benchmark: word searches with snippets through the HTTP API, on generated
Finnish, Swedish and English cases in PostgreSQL, and what keeping the index costs a set-based
insert of contacts (the intake batch's kind of statement).

    .venv/bin/python -m bench.search                          # 1,000,000 cases, 5,000,000 contacts
    .venv/bin/python -m bench.search --cases 20000 --runs 50  # a quick run

Seeded inside PostgreSQL (generate_series), through the search triggers, as intake would write
them. Texts are drawn from a few hundred words per language (inflected forms and compounds
among them), deterministically, so runs compare. Requests go through the HTTP API in-process
(Flask's test client, an adviser's token): routing, authentication, the queries, the snippets,
the audit entry of each search and serialisation.
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import psycopg
from sqlalchemy import text

from bench.common import bearer, database_url, migrated_app, recreate_database, stopwatch, summarise, time_get

FI = ("hei kiitos terveisin milloin miten voitteko auttaa tarvitsen apua asia asiani koskien haluaisin tietää "
      "muuttoilmoitus muuttoilmoitukseni muuttoilmoituksen asumistuki asumistuen asumistuesta verokortti "
      "verokortin verokorttia passi passin passini ajokortti ajokortin Kela Kelan Kelalta päätös päätöksestä "
      "päätöksen hakemus hakemukseni hakemuksen Tampere Tampereelle Tampereella Helsinki Helsingissä Helsinkiin "
      "Turku Turussa Oulu Oulussa lasku laskun laskusta maksu maksun eräpäivä eräpäivän lomake lomakkeen liite "
      "liitteen osoite osoitteen osoitteeni rakennuslupa rakennusluvan päivähoito päivähoitopaikka lapsilisä "
      "lapsilisän työttömyyskorvaus työttömyyskorvauksen vero veroilmoitus veroilmoituksen kunnallisvero "
      "sähköposti sähköpostilla puhelin puhelimella soittakaa vastatkaa pian kiireellinen kesken valmis "
      "viikolla eilen tänään huomenna kuukausi kuussa vuosi vuoden tili tilille pankki pankkiin nimi nimeni")
SV = ("hej tack hälsningar när hur kan ni hjälpa behöver hjälp ärende angående jag vill veta flyttanmälan "
      "flyttanmälningen bostadsbidrag bostadsbidraget skattekort skattekortet pass passet körkort körkortet "
      "beslut beslutet ansökan ansökningar ansökningen Tammerfors Helsingfors Åbo räkning räkningen avgift "
      "avgiften förfallodag blankett blanketten bilaga bilagan adress adressen bygglov bygglovet dagis "
      "dagisplats barnbidrag arbetslöshetsersättning skatt skatten deklaration deklarationen e-post telefon "
      "ring svara snart brådskande klart vecka igår idag imorgon månad år konto kontot bank namn mitt")
EN = ("hello thanks regards when how could you help need assistance matter regarding want know moving notice "
      "residence permit permits application applications decision decisions tax card passport driving licence "
      "invoice payment due date form attachment address building permit daycare child benefit unemployment "
      "email phone call answer soon urgent pending ready week yesterday today tomorrow month year account bank")

# Rare words: one text in RARE_EVERY holds one of them, so a search for one finds a page or two.
RARE = ("lumikuningatar", "kuutamokeikka", "jäänsärkijä", "ruusunmarja")
RARE_EVERY = 997

SEED_VOCABULARY = text("""
CREATE TEMP TABLE IF NOT EXISTS bench_words AS
SELECT 'fi' AS language, string_to_array(:fi, ' ') AS words
UNION ALL SELECT 'sv', string_to_array(:sv, ' ')
UNION ALL SELECT 'en', string_to_array(:en, ' ')
""")
FIRST_NAMES = ("Aino Eero Liisa Matti Anna Juha Sanna Mikko Elina Pekka Kaisa Ville Maria Jukka Emma Timo "
               "Johanna Antti Laura Sami Erik Karin Lars Ingrid")
LAST_NAMES = ("Virtanen Korhonen Mäkinen Nieminen Mäkelä Hämäläinen Laine Heikkinen Koskinen Järvinen Lehtonen "
              "Lindholm Nyström Eriksson Saarinen Salminen Heinonen Niemi Heikkilä Kinnunen")
SEED_CUSTOMERS = text("""
INSERT INTO customer (name, phone, email, language, created_at, updated_at)
SELECT f[1 + n % array_length(f, 1)] || ' ' || l[1 + (n / 7) % array_length(l, 1)],
       '+3584' || lpad(n::text, 8, '0'), 'asiakas' || n || '@example.fi', 'fi', now(), now()
FROM generate_series(1, :n) n, (SELECT string_to_array(:first, ' ') f, string_to_array(:last, ' ') l) names
""")
# A text of 8 to 40 words of the case's language, drawn by hashing (case, contact, position).
TEXT_OF = """(SELECT string_agg(w.words[1 + abs(hashint8(:seed + {key}::bigint * 7919 + g)) % array_length(w.words, 1)], ' ')
             || CASE WHEN abs(hashint4({key})) % {rare_every} = 0
                     THEN ' ' || (ARRAY[{rare}])[1 + abs(hashint4({key} + 1)) % {rare_count}] ELSE '' END
        FROM generate_series(1, 8 + abs(hashint4({key})) % 33) g)"""
SEED_CASES = text(f"""
INSERT INTO "case" (reference, service_line_id, customer_id, channel, status, subject, language,
                    created_at, updated_at, last_activity_at, closed_at)
SELECT '2026-S' || n, :line, 1 + (n % :customers), (ARRAY['email','sms','chat','phone','webform'])[1 + (n / 10) % 5],
       CASE WHEN n % 10 = 0 THEN 'open' WHEN n % 10 = 1 THEN 'new' ELSE 'closed' END,
       (SELECT string_agg(w.words[1 + abs(hashint4(n * 31 + g)) % array_length(w.words, 1)], ' ')
          FROM generate_series(1, 4) g),
       w.language, t, t, t, CASE WHEN n % 10 > 1 THEN t + interval '2 days' END
FROM (SELECT n, timestamptz '2024-11-01' + (n * interval '1 minute') AS t,
             CASE WHEN n % 10 < 6 THEN 'fi' WHEN n % 10 < 9 THEN 'sv' ELSE 'en' END AS language
      FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) n) s
JOIN bench_words w ON w.language = s.language
""")
SEED_CONTACTS = text(f"""
INSERT INTO contact (case_id, channel, direction, external_id, sender, body, occurred_at, created_at)
SELECT c.id, c.channel, CASE WHEN k % 2 = 0 THEN 'inbound' ELSE 'outbound' END, 'S' || c.id || '-' || k,
       '+358400000000', {TEXT_OF.format(key="(c.id * 8 + k)", rare_every=RARE_EVERY,
                                        rare=", ".join(f"'{w}'" for w in RARE), rare_count=len(RARE))},
       c.created_at + k * interval '1 hour', c.created_at + k * interval '1 hour'
FROM "case" c JOIN bench_words w ON w.language = c.language
CROSS JOIN generate_series(1, CAST(:per_case AS integer)) k
WHERE c.id BETWEEN :first AND :last
""")


def seed(app, cases: int, contacts_per_case: int, chunk: int = 100_000) -> None:
    from service.extensions import db
    from service.lines.models import ServiceLine

    with app.app_context():
        line = ServiceLine(name="Neuvonta", is_default=True)
        db.session.add(line)
        db.session.commit()
        db.session.execute(SEED_VOCABULARY, {"fi": FI, "sv": SV, "en": EN})
        customers = max(1, cases // 2)
        db.session.execute(SEED_CUSTOMERS, {"n": customers, "first": FIRST_NAMES, "last": LAST_NAMES})
        db.session.commit()
        for first in range(1, cases + 1, chunk):
            last = min(cases, first + chunk - 1)
            db.session.execute(SEED_CASES, {"first": first, "last": last, "line": line.id, "customers": customers})
            db.session.commit()
            print(f"  seeded {last:,}/{cases:,} cases", flush=True)
        low, high = db.session.execute(text('SELECT min(id), max(id) FROM "case"')).one()
        for first in range(low, high + 1, chunk):
            db.session.execute(SEED_CONTACTS, {"first": first, "last": min(high, first + chunk - 1),
                                               "per_case": contacts_per_case, "seed": 17})
            db.session.commit()
            print(f"  seeded contacts of cases up to id {min(high, first + chunk - 1):,}", flush=True)
    with psycopg.connect(database_url(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


SEARCHES = {
    "a rare word (a few hits)": {"q": "lumikuningatar"},
    "an inflected Finnish word (many hits)": {"q": "muuttoilmoitukseni"},
    "a common word, open cases only": {"q": "verokortti", "status": "open"},
    "two words": {"q": "passi Tampereelle"},
    "a Swedish word": {"q": "bostadsbidraget"},
    "a customer's surname, sms only": {"q": "Korhonen", "channel": "sms"},
    "a phone number": {"q": "+358400000123"},
}

LIST_SEARCHES = {
    "the case list, q an inflected Finnish word (many hits)": {"q": "muuttoilmoitukseni"},
    "the case list, q a rare word, open cases": {"q": "lumikuningatar", "status": "open"},
}


def measure(app, runs: int) -> dict:
    client = app.test_client()
    adviser = bearer(app, "adviser")
    # The machine's speed in the same run: the case list without a search.
    _, results = None, {}
    reference = "reference: the case list, open cases, no search"
    _, results[reference] = time_get(client, "/api/v1/cases", {"status": "open"}, adviser, runs)
    print(f"  {reference}: {results[reference]}", flush=True)
    # Then the case list's q: the same search, narrowing the adviser's list in its own order.
    for path, searches in (("/api/v1/cases/search", SEARCHES), ("/api/v1/cases", LIST_SEARCHES)):
        for label, params in searches.items():
            page, results[label] = time_get(client, path, params, adviser, runs)
            results[label]["hits"] = page["total"]
            print(f"  {label}: {results[label]}", flush=True)
    return results


def insert_cost(app, rows: int, repeats: int = 5) -> dict:
    """Milliseconds for one INSERT ... SELECT of ``rows`` contacts with the search trigger and
    without it (rolled back each time), as an intake batch writes them."""
    from service.extensions import db

    statement = text(f"""
        INSERT INTO contact (case_id, channel, direction, external_id, sender, body, occurred_at, created_at)
        SELECT c.id, 'sms', 'inbound', 'X' || c.id || '-' || :r, '+358400000000',
               {TEXT_OF.format(key="(c.id * 8 + 7)", rare_every=RARE_EVERY, rare="'x'", rare_count=1)},
               now(), now()
        FROM "case" c JOIN bench_words w ON w.language = c.language ORDER BY c.id LIMIT :rows""")
    timings = {"with the index": [], "without it": []}
    with app.app_context():
        db.session.execute(SEED_VOCABULARY, {"fi": FI, "sv": SV, "en": EN})
        for r in range(repeats):
            for label in timings:
                if label == "without it":
                    db.session.execute(text("ALTER TABLE contact DISABLE TRIGGER search_contacts_added"))
                started = time.perf_counter()
                db.session.execute(statement, {"rows": rows, "r": r, "seed": 23})
                timings[label].append((time.perf_counter() - started) * 1000)
                db.session.rollback()
                db.session.execute(SEED_VOCABULARY, {"fi": FI, "sv": SV, "en": EN})
    return {label: summarise(samples) for label, samples in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--contacts-per-case", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--insert-rows", type=int, default=500, help="contacts per insert in the upkeep measure")
    parser.add_argument("--reuse", action="store_true", help="measure the database seeded by an earlier run")
    args = parser.parse_args()

    url = database_url()
    print(f"search benchmark: {args.cases:,} cases, {args.cases * args.contacts_per_case:,} contacts "
          f"on {url.rsplit('@', 1)[-1]}", flush=True)
    if args.reuse:
        app = migrated_app(url)
    else:
        recreate_database(url)
        app = migrated_app(url)
        with stopwatch("seed"):
            seed(app, args.cases, args.contacts_per_case)
    with app.app_context():
        from service.extensions import db
        entries = db.session.execute(text("SELECT count(*), pg_size_pretty(pg_total_relation_size('search_entry')) "
                                          "FROM search_entry")).one()
    print(f"  search_entry: {entries[0]:,} rows, {entries[1]} with its indexes", flush=True)
    gc.freeze()  # as wsgi.py does once the application is built
    results = measure(app, args.runs)
    upkeep = insert_cost(app, args.insert_rows)
    print(f"  one insert of {args.insert_rows} contacts: {upkeep}", flush=True)
    print(json.dumps({"cases": args.cases, "search_entry_rows": entries[0], "search_entry_size": entries[1],
                      "results": results, "insert_of_contacts": upkeep}, indent=2))


if __name__ == "__main__":
    main()
