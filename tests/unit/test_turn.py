import base64
import hashlib
import hmac

from mosaic.security.turn import ice_servers_for, turn_credentials


def test_credentials_follow_coturns_rest_scheme() -> None:
    username, password = turn_credentials("s3cret", "p123", ttl_s=3600, now=1_000_000)
    assert username == "1003600:p123"
    expected = base64.b64encode(hmac.new(b"s3cret", b"1003600:p123", hashlib.sha1).digest())
    assert password == expected.decode()


def test_ice_servers_carry_credentials_only_with_a_secret() -> None:
    urls = ["turn:turn.example.org:3478?transport=tcp"]
    assert ice_servers_for("p1", [], "s", 60) == []
    assert ice_servers_for("p1", urls, None, 60) == [{"urls": urls}]
    (server,) = ice_servers_for("p1", urls, "s", 60)
    assert server["urls"] == urls and server["username"].endswith(":p1") and server["credential"]
