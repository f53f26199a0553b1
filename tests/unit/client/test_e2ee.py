"""The end-to-end encryption format (docs/e2ee.md) against known answers, which the web
client's code gives too (`e2ee_vectors.json`: the same bytes from WebCrypto), and the ways a
frame, a message or a handed key must fail to open."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from mosaic.client import e2ee as x

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "e2ee_vectors.json").read_text())
LINK = bytes.fromhex(VECTORS["link_secret"])
ANN, BOB = VECTORS["wrap"]["sender"], VECTORS["wrap"]["recipient"]


def pair(private_hex: str) -> x.KeyPair:
    return x.KeyPair(ec.derive_private_key(int(private_hex, 16), ec.SECP256R1()))


def test_keys_and_ratchet_give_the_known_answers() -> None:
    assert x.link_fragment(LINK) == VECTORS["link_fragment"]
    assert x.link_secret_of(VECTORS["link_fragment"]) == LINK
    assert x.link_mask(LINK).hex() == VECTORS["link_mask"]
    first = x.ratchet(LINK)
    assert first.hex() == VECTORS["ratchet_1"]
    assert x.ratchet(first).hex() == VECTORS["ratchet_2"]
    key = x.SenderKey.of(first, VECTORS["sender"])
    assert (key.key.hex(), key.salt.hex()) == (VECTORS["media_key"], VECTORS["media_salt"])


@pytest.mark.parametrize("vector", VECTORS["frames"], ids=lambda v: f"{v['kind']}-{v['counter']}")
def test_frames_give_the_known_answers_and_keep_their_clear_prefix(vector: dict[str, Any]) -> None:
    key = x.SenderKey.of(bytes.fromhex(VECTORS["ratchet_1"]), VECTORS["sender"])
    clear, sealed = bytes.fromhex(vector["clear"]), bytes.fromhex(vector["encrypted"])
    kind = vector["kind"]
    assert x.encrypt_frame(key, vector["counter"], vector["epoch"], kind, clear) == sealed
    assert x.decrypt_frame(key, kind, sealed) == clear
    prefix = x.clear_prefix(kind, clear)
    assert prefix == {"audio": 1}.get(kind, 10 if clear[0] & 1 == 0 else 3)
    assert sealed[:prefix] == clear[:prefix]  # what the SFU and the packetizer read
    assert clear[prefix:] not in sealed
    trailer = x.frame_trailer(kind, sealed)
    assert trailer == x.FrameTrailer(vector["counter"], vector["epoch"] & 0xFF)
    assert sealed[-1] == x.MARK


def test_a_frame_opens_only_for_its_sender_key_and_untouched() -> None:
    secret = x.ratchet(LINK)
    ann, bob = x.SenderKey.of(secret, ANN), x.SenderKey.of(secret, BOB)
    frame = bytes([0x50, 0x42, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0x68, 0x01]) + bytes(100)
    sealed = x.encrypt_frame(ann, 7, 1, "video", frame)
    assert x.decrypt_frame(bob, "video", sealed) is None  # another sender's key
    assert x.decrypt_frame(x.SenderKey.of(LINK, ANN), "video", sealed) is None  # another epoch
    resized = bytearray(sealed)
    resized[6] ^= 1  # the clear size, told by the SFU, is authenticated (AAD)
    assert x.decrypt_frame(ann, "video", bytes(resized)) is None
    recounted = bytearray(sealed)
    recounted[-3] ^= 1  # the counter makes the IV
    assert x.decrypt_frame(ann, "video", bytes(recounted)) is None
    assert x.decrypt_frame(ann, "video", frame) is None  # a clear frame is not taken


def test_one_counter_never_repeats_an_iv_under_one_key() -> None:
    counter = x.FrameCounter()
    taken = [counter.take(1) for _ in range(3)]
    assert taken == [0, 1, 2]
    assert counter.take(2) == 0  # a new epoch, a new key: the count starts again


def test_chat_gives_the_known_answer_and_opens_only_for_its_sender() -> None:
    chat = VECTORS["chat"]
    secret = bytes.fromhex(chat["secret"])
    sealed = x.encrypt_chat(secret, chat["sender"], chat["text"], bytes.fromhex(chat["iv"]))
    assert sealed == chat["encrypted"]
    assert x.decrypt_chat(secret, chat["sender"], sealed) == chat["text"]
    assert x.decrypt_chat(secret, BOB, sealed) is None  # another participant cannot pose as Ann
    assert x.decrypt_chat(LINK, chat["sender"], sealed) is None
    assert chat["text"].encode() not in x.from_b64url(sealed[5:])


def test_a_wrapped_secret_opens_for_its_recipient_with_the_link_only() -> None:
    wrap = VECTORS["wrap"]
    ann, bob = pair(wrap["sender_private"]), pair(wrap["recipient_private"])
    assert (ann.public, bob.public) == (wrap["sender_public"], wrap["recipient_public"])
    mask = x.link_mask(LINK)
    blob = x.wrap_secret(
        ann, bob.public, ANN, BOB, mask, wrap["epoch"], bytes.fromhex(wrap["secret"]),
        bytes.fromhex(wrap["iv"]),
    )  # fmt: skip
    assert blob == wrap["blob"]
    assert x.unwrap_secret(bob, ann.public, ANN, BOB, mask, blob, 1).hex() == wrap["secret"]
    with pytest.raises(x.E2eeError):
        x.unwrap_secret(bob, ann.public, ANN, BOB, mask, blob, 2)  # the event's epoch lies
    with pytest.raises(x.E2eeError):
        x.unwrap_secret(x.KeyPair(), ann.public, ANN, BOB, mask, blob, 1)  # not for us
    # Without the link's key (no fragment, or a wrong one) what is handed over is useless.
    wrong = x.link_mask(bytes(32))
    assert x.unwrap_secret(bob, ann.public, ANN, BOB, wrong, blob, 1).hex() != wrap["secret"]


def test_the_safety_code_is_known_and_changes_with_the_people_and_their_keys() -> None:
    safety = VECTORS["safety"]
    secret = bytes.fromhex(safety["secret"])
    assert x.safety_code(secret, safety["keys"]) == safety["code"]
    assert len(safety["code"]) == 11 and safety["code"][5] == " "
    swapped = {**safety["keys"], BOB: x.KeyPair().public}  # the server put in a key of its own
    assert x.safety_code(secret, swapped) != safety["code"]
    joined = {**safety["keys"], "p000000000001": x.KeyPair().public}
    assert x.safety_code(secret, joined) != safety["code"]


def test_the_link_secret_is_read_from_the_fragment_only_when_whole() -> None:
    fragment = x.link_fragment(LINK)
    assert x.link_secret_of(f"pwd=123456&{fragment}") == LINK
    assert x.link_secret_of("pwd=123456") is None
    assert x.link_secret_of(fragment[:-1]) is None
