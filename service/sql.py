"""Small helpers for building queries."""


def escape_like(text: str) -> str:
    """Make user text literal inside a LIKE pattern (used with ``escape="\\\\"``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains(text: str) -> str:
    return f"%{escape_like(text)}%"
