"""The Python client's side of an end-to-end encrypted meeting: its keys, epoch by epoch, the
exchange with the other clients over signaling, and what media and chat need from them.

The rules are the web client's (`mosaic/web/js/e2ee.js`; docs/e2ee.md), so that browsers and
Python clients share one meeting:

- Whoever is keyed first (nobody else has published an ``e2ee_key``) starts epoch 0 with the
  link's secret.
- Each participant admitted (a roster ``joined`` naming someone not already in our roster)
  ratchets every keyed client one epoch on.
- A newcomer's hello (its ``e2ee_key`` appears or changes) is answered by up to three keyed
  clients, the smallest ids (leaving out hellos too fresh to hold a key yet), each sending the
  current secret wrapped for it: a waiting guest has no roster entry, so nobody hands it
  anything until a host admits it.
- A departure: the key leader (the smallest keyed id) makes a fresh random secret, one epoch
  on, and wraps it to everyone keyed: whoever left cannot read what follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from mosaic.client.e2ee import (
    E2eeError,
    FrameCounter,
    KeyPair,
    SenderKey,
    decrypt_chat,
    decrypt_frame,
    encrypt_chat,
    encrypt_frame,
    frame_trailer,
    link_mask,
    ratchet,
    safety_code,
    unwrap_secret,
    wrap_secret,
)
from mosaic.client.signaling import Event, SignalingClient, SignalingError
from mosaic.tasks import TaskSet

log = logging.getLogger(__name__)

HANDERS = 3  # keyed clients who hand each newcomer the key (more than one: races, departures)
FRESH_S = 1.5  # a hello this recent may still be waiting for its own key
HELLO_RETRY_S = 4.0
HELLO_TRIES = 4
MAX_SECRETS = 8  # epochs kept for frames and messages still in flight after a change
RATCHET_AHEAD = 4  # joins a sender may have seen before we did


class E2eeKeys:
    """One participant's keys in one encrypted meeting.

    ``people`` gives the admitted participants as the roster says (dicts with ``id`` and
    ``e2ee_key``); ``self_id`` is ours. Call `start` once joined (admitted), and `roster` as
    each roster event is applied."""

    def __init__(
        self,
        signaling: SignalingClient,
        link: bytes,
        self_id: str,
        people: Callable[[], list[dict[str, Any]]],
    ) -> None:
        self.signaling = signaling
        self.link = link
        self.mask = link_mask(link)
        self.self_id = self_id
        self.people = people
        self.secrets: list[tuple[int, bytes]] = []  # (epoch, secret), newest last
        self.pair = KeyPair()
        self.known_keys: dict[str, str] = {}
        self.hello_at: dict[str, float] = {}
        self.self_made = False
        self.counter = FrameCounter()
        self.decrypted: dict[str, int] = {}  # sender -> frames opened
        self.failed = 0  # frames that opened under no key we hold
        self._sender_keys: dict[tuple[bytes, str], SenderKey] = {}
        self._hello_timer: asyncio.TimerHandle | None = None
        self._tasks = TaskSet()
        self._keyed = asyncio.Event()

    # -- start -------------------------------------------------------------------------------

    async def start(self) -> None:
        others = [p for p in self.people() if p["id"] != self.self_id and p.get("e2ee_key")]
        for person in others:
            self.known_keys[person["id"]] = person["e2ee_key"]
        if not others:
            self.self_made = True  # we start the meeting's epochs with the link's own secret
            self.adopt(0, self.link)
        await self.hello()

    async def hello(self, tries: int = HELLO_TRIES) -> None:
        """A fresh key pair, published; again (others see a new hello) if no key comes."""
        self.pair = KeyPair()
        with contextlib.suppress(SignalingError):
            await self.signaling.request("e2ee.hello", public_key=self.pair.public)
        if self._hello_timer is not None:
            self._hello_timer.cancel()
        if tries > 1:
            loop = asyncio.get_running_loop()
            self._hello_timer = loop.call_later(HELLO_RETRY_S, self._hello_again, tries - 1)

    def _hello_again(self, tries: int) -> None:
        if not self.secrets:
            self._tasks.spawn(self.hello(tries))

    def current(self) -> tuple[int, bytes] | None:
        return self.secrets[-1] if self.secrets else None

    @property
    def epoch(self) -> int | None:
        now = self.current()
        return now[0] if now else None

    async def wait_keyed(self, timeout: float = 10.0) -> None:
        """Return once we hold a key (handed to us, or our own as the first one keyed)."""
        await asyncio.wait_for(self._keyed.wait(), timeout)

    def adopt(self, epoch: int, secret: bytes) -> None:
        kept = [(e, s) for e, s in self.secrets if not (e == epoch and s == secret)]
        kept.append((epoch, secret))
        kept.sort(key=lambda entry: entry[0])
        self.secrets = kept[-MAX_SECRETS:]
        self._keyed.set()

    def held_secrets(self) -> list[bytes]:
        """Every secret we hold now (what a removed participant would take along)."""
        return [secret for _, secret in self.secrets]

    # -- the roster --------------------------------------------------------------------------

    def roster(self, arrived: list[str], left: list[str]) -> None:
        """After the participant applied a roster event: ratchet for newcomers, hand them
        the key, make a fresh one after a departure.

        ``arrived``: the ids this event brought that our roster did not hold before. The
        server's ``joined`` can name someone already in the snapshot we joined with (their
        admission was still in its batch when we came in): we must not count them again,
        as whoever handed us our key already had. Everything but the sending is done here,
        as the event is dispatched, so that a key handed in a later frame is taken after
        the ratchet, never before it."""
        now = self.current()
        if arrived and now is not None:
            epoch, secret = now
            for _ in arrived:
                secret, epoch = ratchet(secret), epoch + 1
            self.adopt(epoch, secret)
        people = self.people()
        hellos = [
            p
            for p in people
            if p["id"] != self.self_id
            and p.get("e2ee_key")
            and self.known_keys.get(p["id"]) != p["e2ee_key"]
        ]
        for person in hellos:
            self.known_keys[person["id"]] = person["e2ee_key"]
            self.hello_at[person["id"]] = time.monotonic()
        for pid in left:
            self.known_keys.pop(pid, None)
            self.hello_at.pop(pid, None)
        if left and self._is_leader(people):
            sends = self.rekey(people)
        else:
            key = self.current()
            sends = [(p, key) for p in hellos if self._hands_to(p["id"], people)]
        if sends:
            self._tasks.spawn(self._send_all(sends))

    def _keyed_ids(self, people: list[dict[str, Any]]) -> list[str]:
        return sorted(p["id"] for p in people if p.get("e2ee_key") or p["id"] == self.self_id)

    def _is_leader(self, people: list[dict[str, Any]]) -> bool:
        keyed = self._keyed_ids(people)
        return bool(keyed) and keyed[0] == self.self_id

    def _hands_to(self, newcomer: str, people: list[dict[str, Any]]) -> bool:
        if self.current() is None:
            return False
        now = time.monotonic()
        candidates = [pid for pid in self._keyed_ids(people) if pid != newcomer]
        settled = [
            pid
            for pid in candidates
            if pid == self.self_id or now - self.hello_at.get(pid, -1e9) > FRESH_S
        ]
        return self.self_id in (settled or candidates)[:HANDERS]

    def rekey(
        self, people: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any], tuple[int, bytes] | None]]:
        """A fresh secret for everyone still here (someone left or was removed): taken now,
        returned with whom to send it to."""
        now = self.current()
        epoch = (now[0] if now else 0) + 1
        key = (epoch, os.urandom(32))
        self.adopt(*key)
        return [(p, key) for p in people if p["id"] != self.self_id and p.get("e2ee_key")]

    async def _send_all(self, sends: list[tuple[dict[str, Any], tuple[int, bytes] | None]]) -> None:
        for person, key in sends:
            await self.send(person, key)

    async def send(self, person: dict[str, Any], key: tuple[int, bytes] | None) -> None:
        if key is None or not person.get("e2ee_key"):
            return
        epoch, secret = key
        try:
            blob = wrap_secret(
                self.pair, person["e2ee_key"], self.self_id, person["id"], self.mask, epoch, secret
            )
            await self.signaling.request("e2ee.key", to=person["id"], epoch=epoch, blob=blob)
        except (E2eeError, SignalingError) as error:
            log.info("e2ee key not sent to %s: %s", person["id"], error)

    def received(self, event: Event) -> None:
        """A wrapped key handed to us: taken unless older than what we hold."""
        sender = next((p for p in self.people() if p["id"] == event["from"]), None)
        if sender is None or not sender.get("e2ee_key"):
            return
        try:
            secret = unwrap_secret(
                self.pair,
                sender["e2ee_key"],
                event["from"],
                self.self_id,
                self.mask,
                event["blob"],
                event["epoch"],
            )
        except E2eeError as error:
            log.info("e2ee key from %s refused: %s", event["from"], error)
            return
        now = self.current()
        if now is not None and event["epoch"] < now[0]:
            return
        self.adopt(event["epoch"], secret)

    # -- media -------------------------------------------------------------------------------

    def _sender_key(self, secret: bytes, participant_id: str) -> SenderKey:
        found = self._sender_keys.get((secret, participant_id))
        if found is None:
            if len(self._sender_keys) > 512:
                self._sender_keys.clear()
            found = self._sender_keys[(secret, participant_id)] = SenderKey.of(
                secret, participant_id
            )
        return found

    def encrypt(self, kind: str, frame: bytes) -> bytes | None:
        """Our frame, encrypted under the current epoch; None (send nothing) without a key."""
        now = self.current()
        if now is None:
            return None
        epoch, secret = now
        return encrypt_frame(
            self._sender_key(secret, self.self_id), self.counter.take(epoch), epoch, kind, frame
        )

    def _candidates(self, epoch_byte: int) -> Iterator[bytes]:
        for epoch, secret in reversed(self.secrets):
            if epoch & 0xFF == epoch_byte:
                yield secret
        now = self.current()
        if now is None:
            return
        ahead = (epoch_byte - now[0]) & 0xFF
        if 1 <= ahead <= RATCHET_AHEAD:
            secret = now[1]
            for _ in range(ahead):
                secret = ratchet(secret)
            yield secret

    def decrypt(self, kind: str, data: bytes, hinted: str | None = None) -> bytes | None:
        """A received frame in clear, or None (dropped: the decoder never sees garbage).
        ``hinted``: whose the server says the slot carries, tried first."""
        trailer = frame_trailer(kind, data)
        if trailer is not None:
            others = [p["id"] for p in self.people() if p["id"] != self.self_id]
            order = [hinted, *[o for o in others if o != hinted]] if hinted else others
            for secret in self._candidates(trailer.epoch_byte):
                for pid in order:
                    plain = decrypt_frame(self._sender_key(secret, pid), kind, data)
                    if plain is not None:
                        self.decrypted[pid] = self.decrypted.get(pid, 0) + 1
                        self._catch_up(trailer.epoch_byte, secret)
                        return plain
        self.failed += 1
        return None

    def _catch_up(self, epoch_byte: int, secret: bytes) -> None:
        """A frame opened under our secret ratcheted ahead (its sender counted an admission we
        did not, or was handed the key after one we counted): take that epoch, as the web
        client does, so that everyone ends on one secret and one safety code."""
        now = self.current()
        if now is None or any(secret == held for _, held in self.secrets):
            return
        self.adopt(now[0] + ((epoch_byte - now[0]) & 0xFF), secret)

    # -- chat ----------------------------------------------------------------------------------

    def encrypt_chat(self, text: str) -> str:
        now = self.current()
        if now is None:
            raise E2eeError("no key yet")
        return encrypt_chat(now[1], self.self_id, text)

    def decrypt_chat(self, text: str, sender_id: str) -> str | None:
        tries = [secret for _, secret in reversed(self.secrets)]
        now = self.current()
        if now is not None:
            secret = now[1]
            for _ in range(RATCHET_AHEAD):
                secret = ratchet(secret)
                tries.append(secret)
        for secret in tries:
            plain = decrypt_chat(secret, sender_id, text)
            if plain is not None:
                return plain
        return None

    def safety_code(self) -> str | None:
        now = self.current()
        if now is None:
            return None
        keys = {p["id"]: p.get("e2ee_key") or "" for p in self.people()}
        keys[self.self_id] = keys.get(self.self_id) or self.pair.public
        return safety_code(now[1], keys)

    def close(self) -> None:
        if self._hello_timer is not None:
            self._hello_timer.cancel()
        self._tasks.cancel()
