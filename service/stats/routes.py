import json

from flask import Response, current_app

from ..auth.guard import current_principal
from ..blueprint import Blueprint
from ..lines.logic import visible_line_ids
from . import csv_table, logic
from .schemas import ARGS, REPORTS

blp = Blueprint("stats", __name__, url_prefix="/api/v1/stats",
                description="Anonymous contact-volume statistics. Counts below the suppression threshold "
                            "are hidden (null, and named in `suppressed`); nothing identifies a person. A supervisor "
                            "limited to lines gets the figures of those lines only. "
                            "Read from rollups the statistics job keeps (within a minute or so of intake): "
                            "counts, sums and means are exact; medians and 90th percentiles of durations "
                            "are within 1% of the exact value.")



def _json_or_csv(report: str) -> dict:
    # Documented by hand: flask-smorest's own 200 would name only the JSON body.
    name = REPORTS[report].__name__
    return {"responses": {"200": {"description": "OK", "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}},
        "text/csv": {"schema": {"type": "string"}}}}}}


def _answer(report: str, args: dict):
    settings = logic.StatsSettings.from_config(current_app.config)
    lines = visible_line_ids(current_principal())
    query = logic.StatsQuery(first=args["first"], last=args["last"], interval=args["interval"],
                             group_by=args["group_by"], service_level_seconds=args.get("service_level"),
                             service_line_ids=None if lines is None else frozenset(lines))
    table = logic.report(report, query, settings)
    if args["format"] == "csv":
        filename = f"{report}-{query.first.isoformat()}-{query.last.isoformat()}.csv"
        return Response(csv_table.render(table), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    # Already plain JSON values, and a quarter by day is thousands of rows: dumping them again
    # through marshmallow took longer than the query. The schema still documents the shape.
    body = {"from": query.first.isoformat(), "to": query.last.isoformat(), "interval": query.interval,
            "time_zone": settings.zone.key, "group_by": list(query.group_by),
            "suppression_threshold": settings.threshold, "rows": table.rows, "totals": table.totals,
            "total": table.total}
    if report == "calls":
        body["service_level_seconds"] = table.service_level_seconds
    # Compact and unsorted: a quarter by day is half a megabyte of JSON otherwise.
    return Response(json.dumps(body, separators=(",", ":"), ensure_ascii=False), mimetype="application/json")


@blp.route("/contacts", methods=["GET"])
@blp.requires("stats.read")
@blp.arguments(ARGS["contacts"], location="query")
@blp.response(200, REPORTS["contacts"])
@blp.doc(**_json_or_csv("contacts"))
def contacts(args):
    """Contacts per period and breakdown (channel, direction, language, service line)"""
    return _answer("contacts", args)


@blp.route("/calls", methods=["GET"])
@blp.requires("stats.read")
@blp.arguments(ARGS["calls"], location="query")
@blp.response(200, REPORTS["calls"])
@blp.doc(**_json_or_csv("calls"))
def calls(args):
    """Inbound calls: offered, answered, abandoned, service level, queue and handling times.

    Queue times are those of answered calls; the service-level share is of all calls offered.
    Counts, means and queue-time figures are exact (queue times are kept to the second);
    handling-time medians and 90th percentiles are within 1% of the exact value."""
    return _answer("calls", args)


@blp.route("/cases", methods=["GET"])
@blp.requires("stats.read")
@blp.arguments(ARGS["cases"], location="query")
@blp.response(200, REPORTS["cases"])
@blp.doc(**_json_or_csv("cases"))
def cases(args):
    """Cases opened, closed, forwarded and still open at each period's end; response and close times.

    Each event counts in the period it happened in, by each case's latest state (a reopened
    case counts as closed only once it is closed again). Counts are exact; medians and 90th
    percentiles of response and close times are within 1% of the exact value."""
    return _answer("cases", args)


@blp.route("/feedback", methods=["GET"])
@blp.requires("stats.read")
@blp.arguments(ARGS["feedback"], location="query")
@blp.response(200, REPORTS["feedback"])
@blp.doc(**_json_or_csv("feedback"))
def feedback(args):
    """Feedback requests sent and answered, mean score and the distribution of scores 1-5"""
    return _answer("feedback", args)
