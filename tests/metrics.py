"""Reading one series of the service's own /metrics, as a scraper would."""

from __future__ import annotations

import re

NOT_EXPORTED = object()


def metric(client, name: str, *, missing: float | object = NOT_EXPORTED, **labels) -> float:
    """The value of ``name`` with exactly these labels. A series not yet exported (a counter
    nothing has counted) is ``missing`` when given, a failure otherwise."""
    text = client.get("/metrics").get_data(as_text=True)
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{name} (\S+)$", text, re.M)
    if match:
        return float(match.group(1))
    assert missing is not NOT_EXPORTED, f"{name} {labels} not in /metrics"
    return missing
