"""A participant in a meeting, from the client's side: roster, state, events, requests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiortc import MediaStreamTrack

from mosaic.client.e2ee import E2eeError, link_secret_of
from mosaic.client.e2ee_keys import E2eeKeys
from mosaic.client.media import ROSTER_FLAG, ClientMedia
from mosaic.client.signaling import Event, SignalingClient
from mosaic.client.simulcast import Simulcast


def parse_join_url(join_url: str) -> tuple[str, str, str | None]:
    """(signaling URL, meeting id, passcode from the link's ``#pwd=`` fragment)."""
    parts = urlsplit(join_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/")
    if "/m/" not in path:
        raise ValueError(f"not a Mosaic meeting link: {join_url}")
    meeting_id = path.rsplit("/m/", 1)[1]
    passcode = parse_qs(parts.fragment).get("pwd", [None])[0]
    return f"{scheme}://{parts.netloc}/ws", meeting_id, passcode


class Participant:
    """Joined (or waiting) in one meeting. Use as ``async with``: leaving on exit."""

    def __init__(
        self,
        signaling: SignalingClient,
        meeting_id: str,
        *,
        decode: bool = True,
        local_addresses: list[str] | None = None,
        link_secret: bytes | None = None,
    ) -> None:
        self.signaling = signaling
        self.meeting_id = meeting_id
        self.media = ClientMedia(signaling, decode=decode, local_addresses=local_addresses)
        self.media.is_live = self._has_on
        self.dominant_speaker: str | None = None
        self.state = "new"
        self.id: str | None = None
        self.name: str | None = None
        self.role: str | None = None
        self.meeting: dict[str, Any] = {}
        self.participants: dict[str, dict[str, Any]] = {}
        self.waiting: list[dict[str, str]] = []
        self.ended_reason: str | None = None
        # The breakout rooms as the server shows them to us (the ``breakouts`` event).
        self.breakouts: dict[str, Any] = {"state": "none", "rooms": [], "room": None}
        # The chat as this participant saw it, oldest first, each message once: the server
        # gives back what a participant was sent when it returns (a new home after a
        # failover), which may repeat what arrived before the drop (told apart by id).
        self.chat: list[Event] = []
        self._chat_ids: set[str] = set()
        self._leaving = False
        # End-to-end encryption (docs/e2ee.md): the link's secret (the ``#k=`` of the invite
        # link), and our keys once we are in an encrypted meeting.
        self.link_secret = link_secret
        self.e2ee: E2eeKeys | None = None
        self._e2ee_task: asyncio.Future[None] | None = None
        signaling.on("e2ee.key", self._on_e2ee_key)
        signaling.on("roster", self._on_roster)
        signaling.on("chat", self._on_chat)
        signaling.on("admitted", self._on_entered)
        signaling.on("meeting", self._on_meeting)
        signaling.on("waiting", self._on_waiting)
        for kind in ("denied", "removed", "ended"):
            signaling.on(kind, self._on_gone)
        signaling.on("speaker", self._on_speaker)
        signaling.on("breakouts", self._on_breakouts)
        signaling.on("resumed", self._on_resumed)
        signaling.on("connection", self._on_connection)

    def _has_on(self, participant_id: str, source: str) -> bool:
        """Whether the roster says this source is on (the media watchdog expects its packets)."""
        person = self.participants.get(participant_id)
        return bool(person and person.get(ROSTER_FLAG.get(source, source)))

    def _on_speaker(self, event: Event) -> None:
        self.dominant_speaker = event["participant"]

    def _on_entered(self, result: Event) -> None:
        self.state = result["state"]
        self.id = result["self"]["id"]
        self.name = result["self"]["name"]
        if self.state == "joined":
            self.media.use_ice_servers(result.get("ice_servers", []))
            self.role = result["self"]["role"]
            self.meeting = result["meeting"]
            self.participants = {p["id"]: p for p in result["participants"]}
            self.waiting = result.get("waiting", [])
            if "breakouts" in result:
                self.breakouts = result["breakouts"]
            if self.meeting.get("settings", {}).get("e2ee"):
                self._enter_encrypted()
            for message in result.get("chat", []):
                self._on_chat(message)

    def _on_chat(self, message: Event) -> None:
        key = message.get("id")
        if key is not None:
            if key in self._chat_ids:
                return
            self._chat_ids.add(key)
        entry = {k: v for k, v in message.items() if k != "type"}
        if self.media.e2ee_required:
            # Ciphertext: its text, or None if none of our keys opens it.
            text = self.e2ee.decrypt_chat(entry["text"], entry["from"]) if self.e2ee else None
            entry["ciphertext"], entry["text"] = entry["text"], text
        self.chat.append(entry)

    # -- end-to-end encryption -------------------------------------------------------------

    def _enter_encrypted(self) -> None:
        """In an encrypted meeting: media is encrypted or not sent, decrypted or dropped.
        Without the link's secret we say nothing and decrypt nothing (the web client shows
        its "the link you used has no key" screen)."""
        self.media.e2ee_required = True
        if self.e2ee is not None or self.link_secret is None or self.id is None:
            return
        self.e2ee = E2eeKeys(
            self.signaling, self.link_secret, self.id, lambda: list(self.participants.values())
        )
        self.media.e2ee = self.e2ee
        self._e2ee_task = asyncio.ensure_future(self.e2ee.start())

    def _on_e2ee_key(self, event: Event) -> None:
        if self.e2ee is not None:
            self.e2ee.received(event)

    @property
    def safety_code(self) -> str | None:
        """The code everyone in the meeting compares aloud (None: not encrypted, no key)."""
        return self.e2ee.safety_code() if self.e2ee is not None else None

    async def send_chat(self, text: str, to: str | None = None) -> None:
        """A chat message, encrypted end to end in an encrypted meeting."""
        await self.request("chat", text=await self._chat_wire(text), to=to)

    async def _chat_wire(self, text: str) -> str:
        """What goes to the server for ``text``: itself, or in an encrypted meeting its
        ciphertext (chat and the word to the breakout rooms alike)."""
        if not self.media.e2ee_required:
            return text
        if self.e2ee is None:
            raise E2eeError("this meeting is end-to-end encrypted: the link has no key")
        await self.e2ee.wait_keyed()
        return self.e2ee.encrypt_chat(text)

    def _on_roster(self, event: Event) -> None:
        # Who is new to us: ``joined`` may name someone our join snapshot already held.
        known = self.participants
        arrived = [p["id"] for p in event["joined"] if p["id"] != self.id and p["id"] not in known]
        for person in event["joined"] + event["updated"]:
            self.participants[person["id"]] = person
        for pid in event["left"]:
            self.participants.pop(pid, None)
        me = self.participants.get(self.id or "")
        if me is not None:
            self.role = me["role"]
        if self.e2ee is not None:
            self.e2ee.roster(arrived, list(event["left"]))

    def _on_breakouts(self, event: Event) -> None:
        self.breakouts = {k: v for k, v in event.items() if k != "type"}

    @property
    def room(self) -> str | None:
        """The breakout room we are in now (None: the main room)."""
        room: str | None = self.breakouts.get("room")
        return room

    # -- breakout rooms (hosts and co-hosts; `move_to` for everyone) --------------------------

    async def create_breakouts(self, names: list[str], mode: str = "manual") -> list[str]:
        """Make rooms (mode: manual, balanced, random, choose); returns their ids."""
        result = await self.request(
            "breakouts.create", rooms=[{"name": name} for name in names], mode=mode
        )
        return [room["id"] for room in result["rooms"]]

    async def assign(
        self, assignments: dict[str, str | None] | None = None, *, auto: str | None = None
    ) -> None:
        """Place people (participant id -> room id, None: main), or all at once
        (``auto``: "balanced" or "random")."""
        fields: dict[str, Any] = {"assignments": assignments or {}}
        if auto is not None:
            fields["auto"] = auto
        await self.request("breakouts.assign", **fields)

    async def open_breakouts(
        self,
        minutes: int | None = None,
        *,
        seconds: int | None = None,
        allow_return: bool = True,
        late_joiners: str = "host",
    ) -> None:
        """Send everyone to their rooms; a timer of ``minutes`` (or ``seconds``) closes them."""
        await self.request(
            "breakouts.open",
            minutes=minutes,
            seconds=seconds,
            allow_return=allow_return,
            late_joiners=late_joiners,
        )

    async def extend_breakouts(self, minutes: int) -> None:
        await self.request("breakouts.extend", minutes=minutes)

    async def broadcast(self, text: str) -> None:
        """A message to every room (arrives as a ``broadcast`` event; in an encrypted
        meeting as ciphertext, which `decrypt_chat` of the client's keys opens)."""
        await self.request("breakouts.broadcast", text=await self._chat_wire(text))

    async def move_to(self, room_id: str | None) -> None:
        """Go to a room (None: back to main): a host's visit, a participant's choice."""
        await self.request("breakouts.move", room_id=room_id)

    async def set_room_cohost(self, participant_id: str, room_id: str | None) -> None:
        """Make someone co-host of one breakout room (None: no longer); the host only."""
        await self.request("breakouts.cohost", participant=participant_id, room_id=room_id)

    async def ask_for_help(self) -> None:
        await self.request("breakouts.help")

    async def close_breakouts(self) -> None:
        await self.request("breakouts.close")

    @property
    def connection_state(self) -> str:
        """``connected``, ``reconnecting`` (the signaling dropped and is coming back by
        itself: the roster may be stale meanwhile) or ``closed`` (for good). Each change is
        also a ``connection`` event: ``participant.on("connection", handler)``."""
        return self.signaling.state

    @property
    def resume_token(self) -> str | None:
        return self.signaling.resume_token

    def _on_resumed(self, result: Event) -> None:
        """Back after a drop: the room as it is now. ``restored`` means the server had lost
        our place (it restarted), and with it our media: both connections start afresh."""
        me = self.participants.get(self.id or "", {})
        sources_on = {source for source, flag in ROSTER_FLAG.items() if me.get(flag)}
        self._on_entered(result)
        if result.get("restored") and self.state == "joined":
            self.media.start_afresh(sources_on)

    def _on_connection(self, event: Event) -> None:
        if event["state"] == "closed" and self.state not in ("gone", "left") and not self._leaving:
            # Not a departure the server announced (removed, ended): the connection could
            # not be resumed.
            self.state = "gone"
            refusal = self.signaling.refusal
            self.ended_reason = (refusal.reason if refusal else None) or "disconnected"

    def _on_meeting(self, event: Event) -> None:
        self.meeting.update({k: v for k, v in event.items() if k != "type"})
        if self.meeting.get("settings", {}).get("e2ee") and not self.media.e2ee_required:
            # Switched on during the meeting: encrypt what we already send, from now on.
            self.media.encrypt_senders()
            self._enter_encrypted()

    def _on_waiting(self, event: Event) -> None:
        self.waiting = event["participants"]

    def _on_gone(self, event: Event) -> None:
        self.state = "gone"
        self.ended_reason = event["type"]

    def on(self, event: str, handler: Callable[[Event], Any]) -> None:
        """Call ``handler(event)`` for each pushed event of this type ("*" for all)."""
        self.signaling.on(event, handler)

    async def publish(
        self,
        *,
        audio: MediaStreamTrack | None = None,
        video: MediaStreamTrack | Simulcast | None = None,
        screen: MediaStreamTrack | None = None,
    ) -> None:
        """Send tracks to the meeting (a real device's, or `mosaic.client.synthetic`'s); a
        `Simulcast` camera in its layers, as the web client sends its camera."""
        tracks = {"microphone": audio, "camera": video, "screen": screen}
        await self.media.publish({source: t for source, t in tracks.items() if t is not None})

    def track_of(self, participant_id: str, source: str = "camera") -> MediaStreamTrack | None:
        """The remote track now carrying someone's source, if the server sends it to us."""
        return self.media.track_of(participant_id, source)

    async def view(self, videos: list[dict[str, Any]], max_kbps: int | None = None) -> None:
        """Say which videos we show and at which size (only those are sent to us), and cap
        what we receive at ``max_kbps`` (data saver) if given."""
        await self.media.view(videos, max_kbps)

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        return await self.signaling.request(kind, **fields)

    async def wait_for(
        self, event: str, predicate: Callable[[Event], bool] | None = None, timeout: float = 10.0
    ) -> Event:
        return await self.signaling.wait_for(event, predicate, timeout)

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``condition()`` holds (checked as events arrive, and every 50 ms for
        conditions on media)."""
        async with asyncio.timeout(timeout):
            while not condition():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.signaling.changed(), 0.05)

    async def wait_admitted(self, timeout: float = 30.0) -> None:
        if self.state != "joined":
            await self.wait_for("admitted", timeout=timeout)

    async def leave(self) -> None:
        self._leaving = True
        if self.e2ee is not None:
            self.e2ee.close()
        if not self.signaling.closed.is_set():
            # Leaving a connection that is already gone needs no answer.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.signaling.request("leave"), 2.0)
        await self.signaling.close()
        await self.media.close()
        self.state = "left"

    async def __aenter__(self) -> Participant:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.leave()


async def join(
    join_url: str,
    *,
    name: str,
    passcode: str | None = None,
    cookies: dict[str, str] | None = None,
    device: str | None = None,
    decode: bool = True,
    local_addresses: list[str] | None = None,
    reconnect: bool = True,
    headers: dict[str, str] | None = None,
    e2ee_key: bytes | None = None,
) -> Participant:
    """Join a meeting by its link, as a browser would. Raises `SignalingError` if refused.

    ``decode=False`` counts received media without decoding it (bots); ``local_addresses``
    limits the ICE candidates this participant's connections gather (tests use ["127.0.0.1"]);
    ``reconnect=False`` leaves a dropped connection dropped (see
    `Participant.connection_state`); ``headers`` go with every WebSocket handshake.
    ``e2ee_key``: an end-to-end encrypted meeting's secret, if not in the link (``#k=``); it
    never leaves this client (docs/e2ee.md)."""
    url, meeting_id, link_passcode = parse_join_url(join_url)
    link_secret = e2ee_key or link_secret_of(urlsplit(join_url).fragment)
    signaling = SignalingClient(url, cookies=cookies, reconnect=reconnect, headers=headers)
    await signaling.connect()
    participant = Participant(
        signaling,
        meeting_id,
        decode=decode,
        local_addresses=local_addresses,
        link_secret=link_secret,
    )
    try:
        result = await signaling.request(
            "join",
            meeting=meeting_id,
            name=name,
            passcode=passcode if passcode is not None else link_passcode,
            **({"device": device} if device else {}),
        )
    except BaseException:
        await signaling.close()
        raise
    participant._on_entered(result)
    return participant
