"""How a Python client's keys follow the roster in an encrypted meeting (docs/e2ee.md), fed the
frames a real server sends, in the orders it was seen to send them.

The server batches roster changes (50 ms in a small room), so someone who joins inside a
batch's window gets the snapshot *and* a ``joined`` for a person the snapshot already held; and
a key handed to a newcomer flushes the batch just before it, so both frames can arrive in one
read. A client that counted that ``joined`` as an admission, or that ratcheted after taking the
key, ended an epoch ahead of everyone: no shared safety code until the next change."""

from __future__ import annotations

import asyncio
from typing import Any

from mosaic.client import Participant
from mosaic.client.e2ee import KeyPair, link_mask, new_link_secret, ratchet, wrap_secret
from mosaic.client.signaling import SignalingClient

ANN, BOB, CAROL = "pann00000001", "pbob00000002", "pcar00000003"


def keyed(pid: str, e2ee_key: str | None) -> dict[str, Any]:
    """A roster entry as the server shows it, with the public key its client published."""
    return {"id": pid, "name": pid, "role": "participant", "audio": False, "e2ee_key": e2ee_key}


async def settle() -> None:
    """Let the tasks the frames started run (a hello that finds no socket, key sends)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def bob_joins(link: bytes, people: list[dict[str, Any]]) -> Participant:
    """Bob, admitted into an encrypted meeting with ``people`` (his join snapshot). His
    signaling has no socket: what he would say fails quietly, as over a dropped connection."""
    signaling = SignalingClient("ws://127.0.0.1:9/ws", reconnect=False)
    bob = Participant(signaling, "m", link_secret=link)
    signaling._dispatch(
        {
            "type": "admitted",
            "state": "joined",
            "self": {"id": BOB, "name": "Bob", "role": "participant"},
            "meeting": {"settings": {"e2ee": True}},
            "participants": [*people, keyed(BOB, None)],
        }
    )
    await settle()
    assert bob.e2ee is not None
    return bob


def handed(
    ann: KeyPair, bob: Participant, link: bytes, epoch: int, secret: bytes
) -> dict[str, Any]:
    """Ann's ``e2ee.key`` to Bob, wrapped for the key pair he published."""
    assert bob.e2ee is not None
    blob = wrap_secret(ann, bob.e2ee.pair.public, ANN, BOB, link_mask(link), epoch, secret)
    return {"type": "e2ee.key", "from": ANN, "epoch": epoch, "blob": blob}


def roster(*joined: dict[str, Any]) -> dict[str, Any]:
    """A roster frame announcing ``joined``."""
    return {"type": "roster", "joined": list(joined), "updated": [], "left": []}


async def bob_keyed(link: bytes, ann: KeyPair) -> Participant:
    """Bob, joined after Ann and handed her key for his admission (epoch 1)."""
    bob = await bob_joins(link, [keyed(ANN, ann.public)])
    bob.signaling._dispatch(handed(ann, bob, link, 1, ratchet(link)))
    assert bob.e2ee is not None and bob.e2ee.current() == (1, ratchet(link))
    return bob


async def test_a_joined_for_someone_in_the_join_snapshot_is_not_an_admission() -> None:
    link, ann = new_link_secret(), KeyPair()
    bob = await bob_joins(link, [keyed(ANN, ann.public)])
    assert bob.e2ee is not None and bob.e2ee.current() is None  # Ann is keyed: he waits
    # Ann counted Bob's admission (epoch 1) and hands him that; the batch that still held
    # her own admission comes just before, in the same read.
    bob.signaling._dispatch(roster(keyed(ANN, ann.public), keyed(BOB, bob.e2ee.pair.public)))
    bob.signaling._dispatch(handed(ann, bob, link, 1, ratchet(link)))
    await settle()
    assert bob.e2ee.current() == (1, ratchet(link))
    bob.e2ee.close()


async def test_a_newcomer_ratchets_before_a_key_handed_in_a_later_frame_is_taken() -> None:
    link, ann = new_link_secret(), KeyPair()
    bob = await bob_keyed(link, ann)
    assert bob.e2ee is not None
    # Carol is admitted; Ann (her own ratchet done) hands Bob a fresh key at epoch 2 right
    # after, say because someone left: the ratchet must not land on top of it.
    fresh = new_link_secret()
    bob.signaling._dispatch(roster(keyed(CAROL, None)))
    bob.signaling._dispatch(handed(ann, bob, link, 2, fresh))
    await settle()
    assert bob.e2ee.current() == (2, fresh)
    assert (2, ratchet(ratchet(link))) in bob.e2ee.secrets  # his own count, kept for frames
    bob.e2ee.close()


async def test_a_real_admission_still_ratchets_every_keyed_client() -> None:
    link, ann = new_link_secret(), KeyPair()
    bob = await bob_keyed(link, ann)
    assert bob.e2ee is not None
    for newcomer in (CAROL, "pdan00000004"):
        bob.signaling._dispatch(roster(keyed(newcomer, None)))
    await settle()
    assert bob.e2ee.current() == (3, ratchet(ratchet(ratchet(link))))
    bob.e2ee.close()
