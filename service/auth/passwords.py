"""What a password may not be: one of the passwords people choose most, or the username.

The list is the 30,000 most common passwords that zxcvbn (Dropbox's strength estimator, kept
on PyPI) ships from leaked-password corpora; attackers try them first, in that order.
"""

from __future__ import annotations

from functools import lru_cache

from ..errors import ValidationFailed


@lru_cache(maxsize=1)
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password(password: str, *, username: str) -> None:
    typed = password.strip().lower()
    if typed == username.strip().lower():
        raise ValidationFailed("The password may not be the username.",
                               errors={"password": ["Must differ from the username."]})
    if typed in _common():
        raise ValidationFailed("That password is among the most common ones and is guessed first.",
                               errors={"password": ["Too common: choose another (a few unrelated words work well)."]})
