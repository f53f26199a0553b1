"""A wrapped key is opened with its sender's public key, which the recipient learns from the
roster; roster changes are batched, so a key relayed at once could overtake the hello that
published the sender's key and be dropped (two Python clients then stayed on two epochs)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.signaling import staged_room

KEY_A = "B" + "A" * 86
KEY_B = "B" + "Q" * 86
BLOB = "w" * 80


async def test_a_wrapped_key_never_overtakes_its_senders_public_key(tmp_path: Path) -> None:
    async with staged_room(tmp_path, waiting_room=False, e2ee=True) as stage:
        host = stage.host()
        guest = await stage.guest("Guest")
        await stage.send(guest, "e2ee.hello", public_key=KEY_B)
        await stage.settle()
        await stage.send(host, "e2ee.hello", public_key=KEY_A)
        await stage.send(host, "e2ee.key", to=guest.id, epoch=1, blob=BLOB)
        frames = stage.inbox(guest).frames
        key_at = next(i for i, f in enumerate(frames) if f.get("type") == "e2ee.key")
        seen = [
            person.get("e2ee_key")
            for f in frames[:key_at]
            if f.get("type") == "roster"
            for person in f["joined"] + f["updated"]
            if person["id"] == host.id
        ]
        assert KEY_A in seen
