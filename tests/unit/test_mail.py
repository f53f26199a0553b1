"""The SMTP URL: three schemes, percent-decoded credentials, a password that never prints."""

from __future__ import annotations

import pytest

from mosaic.mail import SmtpTarget


@pytest.mark.parametrize(
    ("url", "scheme", "port"),
    [
        ("smtp://mail.example.org", "smtp", 25),
        ("smtp+starttls://mail.example.org", "smtp+starttls", 587),
        ("smtps://mail.example.org", "smtps", 465),
        ("SMTPS://mail.example.org:2465", "smtps", 2465),
    ],
)
def test_schemes_and_default_ports(url: str, scheme: str, port: int) -> None:
    target = SmtpTarget.parse(url)
    assert (target.scheme, target.host, target.port) == (scheme, "mail.example.org", port)
    assert target.username is None and target.password is None


def test_credentials_are_percent_decoded_and_never_printed() -> None:
    target = SmtpTarget.parse("smtps://me%40example.org:p%3Ass%2Fw0rd@mail.example.org")
    assert (target.username, target.password) == ("me@example.org", "p:ss/w0rd")
    assert "w0rd" not in repr(target) and "w0rd" not in str(target)


@pytest.mark.parametrize("url", ["http://mail.example.org", "smtp://", "mail.example.org"])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="SMTP URL"):
        SmtpTarget.parse(url)
