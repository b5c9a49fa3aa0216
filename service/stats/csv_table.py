"""A statistics table as CSV: the cells, then each period's total, then the range's total."""

from __future__ import annotations

import csv
import io

from .logic import Table

# A spreadsheet runs a cell starting with these as a formula; a service line's name is free text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def render(table: Table) -> str:
    group_by = list(table.query.group_by)
    measures = [*table.counts, *table.figures]
    columns = ["level", "period", "start", "end", *group_by, *measures, "suppressed"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    levels = [("row", row) for row in table.rows] + [("period_total", row) for row in table.totals]
    levels.append(("total", {"period": "", "start": table.query.first.isoformat(), "end": table.query.last.isoformat(),
                             **table.total}))
    for level, row in levels:
        values = {**row, "level": level, "suppressed": ";".join(row.get("suppressed", []))}
        writer.writerow([_cell(values.get(column)) for column in columns])
    return out.getvalue()
