"""Domain events. Domains built on cases (retention, feedback, statistics) subscribe to these
instead of cases importing them. Sent inside the transaction, before the commit, so a
receiver's writes commit or roll back with the change that caused them."""

from blinker import Namespace

_signals = Namespace()

case_created = _signals.signal("case.created")
case_closed = _signals.signal("case.closed")
case_reopened = _signals.signal("case.reopened")
contact_received = _signals.signal("contact.received")
# A service line's retention periods changed; retention recomputes the dates it covers.
retention_policy_changed = _signals.signal("retention_policy.changed")
