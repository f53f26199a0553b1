"""The server-issued device cookie, and the keyed hashes bans are stored as."""

from __future__ import annotations

from mosaic.security.device import DEVICE_COOKIE, DeviceCookies, address_key

KEY = b"k" * 32


def test_only_a_cookie_this_server_signed_is_a_device() -> None:
    devices = DeviceCookies(KEY, secure=True)
    device, header = devices.issue()
    value = header.split(";", 1)[0].removeprefix(DEVICE_COOKIE + "=")
    assert devices.read(value) == device
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" in header
    assert DeviceCookies(b"x" * 32, secure=True).read(value) is None  # another server's
    assert devices.read(value[:-2] + "AA") is None
    assert devices.read(device) is None  # a bare id chosen by a client
    assert devices.read(None) is None and devices.read("") is None
    assert "Secure" not in DeviceCookies(KEY, secure=False).issue()[1]


def test_pseudonyms_are_keyed_and_reveal_nothing() -> None:
    devices = DeviceCookies(KEY, secure=False)
    pseudonym = devices.address_pseudonym("192.0.2.7")
    assert "192.0.2.7" not in pseudonym and len(pseudonym) == 64
    assert pseudonym != DeviceCookies(b"x" * 32, secure=False).address_pseudonym("192.0.2.7")
    assert devices.device_pseudonym("abc") != devices.address_pseudonym("abc")


def test_an_ipv6_subscriber_is_its_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("192.0.2.7") != address_key("192.0.2.8")
