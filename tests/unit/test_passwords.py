"""The password rules (NIST SP 800-63B): a length floor, no composition rules, a blocklist."""

from __future__ import annotations

import pytest

from mosaic.security.passwords import MIN_LENGTH, Weakness, common_passwords, weakness


def test_the_shipped_list_holds_thousands_of_common_passwords() -> None:
    listed = common_passwords()
    assert len(listed) > 5000
    assert {"password", "qwertyuiop", "iloveyou", "1qaz2wsx"} <= listed


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("a" * (MIN_LENGTH - 1), Weakness.TOO_SHORT),
        ("zzzzzzzzzzzz", Weakness.REPETITIVE),
        ("ab12ab12ab12", Weakness.REPETITIVE),
        ("@@@@aaaa4444", Weakness.REPETITIVE),  # the same letter, leet or not
        ("abcdefghijk", Weakness.SEQUENCE),
        ("9876543210", Weakness.SEQUENCE),
        ("azertyuiopqs", Weakness.SEQUENCE),
        ("Football2024", Weakness.COMMON),
        ("!!Dr4g0n!!99", Weakness.COMMON),
        ("baseball", Weakness.TOO_SHORT),
        ("john.smith.1", Weakness.PERSONAL),
        ("mosaic-2024!", Weakness.PERSONAL),
    ],
)
def test_weak_passwords(password: str, expected: Weakness) -> None:
    assert weakness(password, email="john.smith@example.org", name="John Smith") is expected


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "violet harbour lantern 7",
        "Tr0ub4dor&3-extended",
        "john smith likes long walks on beaches",  # the name is in it, but so is much else
        "xk#9Lq!2vB",
    ],
)
def test_strong_passwords_need_no_symbols_or_capitals(password: str) -> None:
    assert weakness(password, email="john.smith@example.org", name="John Smith") is None
