"""End-to-end encryption's cryptography (docs/e2ee.md), byte for byte as the web client's
(`mosaic/web/js/e2ee.js`, `e2ee-worker.js`), so that Python clients and browsers read each
other. Pure functions and small classes, no I/O; `mosaic.client.e2ee_keys` runs the key
exchange over signaling with them.

- The link secret L: 32 random bytes in the invite link's fragment (``#k=<base64url>``), which
  no browser sends to a server. Epoch 0's secret is L; each admission ratchets it forward
  (`ratchet`); a departure replaces it with a fresh random one.
- Per sender, per epoch secret S: an AES-256-GCM key and a 12-byte IV salt (`SenderKey`).
- Frames (`encrypt_frame`): a clear prefix the SFU and the packetizer read (VP8 keyframe 10
  bytes, delta frame 3, Opus 1), the AES-GCM ciphertext of the rest (AAD: the prefix), and a
  10-byte trailer: counter (8, big-endian), epoch mod 256, 0xE2.
- Keys travel wrapped (`wrap_secret`): ECDH P-256 between ephemeral keys, HKDF, AES-GCM of
  (S xor HKDF(L, "link")) || epoch, so that only a holder of the link's key can use them.
- Chat (`encrypt_chat`): ``e2ee:`` + base64url(IV || AES-GCM(chat key, text, AAD: sender)).
- Safety code (`safety_code`): ten digits from SHA-256 of S and the keyed roster.

The cryptography package (already aiortc's) does the work; nothing here is home-made but
the framing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SALT = b"mosaic-e2ee-v1"
SAFETY_LABEL = b"mosaic-safety-v1"
MARK = 0xE2
TRAILER = 10  # counter (8) + epoch byte + MARK
TAG = 16
SECRET_BYTES = 32
CHAT_PREFIX = "e2ee:"
_LINK_KEY = re.compile(r"^[A-Za-z0-9_-]{43}$")


class E2eeError(ValueError):
    """Something that does not decrypt or does not parse; says what, never the bytes."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise E2eeError("not base64url") from None


def hkdf(secret: bytes, info: str, length: int = 32) -> bytes:
    """HKDF-SHA256 (RFC 5869) with Mosaic's salt, as WebCrypto's deriveBits computes it."""
    return HKDF(hashes.SHA256(), length, SALT, info.encode()).derive(secret)


# -- the link --------------------------------------------------------------------------------


def new_link_secret() -> bytes:
    return os.urandom(SECRET_BYTES)


def link_fragment(secret: bytes) -> str:
    """What goes after ``#`` in the invite link (with ``&pwd=`` when there is a passcode)."""
    return "k=" + b64url(secret)


def link_secret_of(fragment: str) -> bytes | None:
    """The link secret in a URL fragment (``k=``), or None if absent or not 32 bytes."""
    text = parse_qs(fragment).get("k", [""])[0]
    if not _LINK_KEY.match(text):
        return None
    secret = from_b64url(text)
    return secret if len(secret) == SECRET_BYTES else None


def ratchet(secret: bytes) -> bytes:
    """The next epoch's secret after an admission: the newcomer gets this, never the one
    before, so it reads nothing from before it came."""
    return hkdf(secret, "ratchet")


def link_mask(link: bytes) -> bytes:
    """XORed over every secret handed on: what a client without the link's key is handed is
    of no use to it, whatever the server does."""
    return hkdf(link, "link")


# -- media frames ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SenderKey:
    """One sender's AES-GCM key and IV salt under one epoch's secret."""

    key: bytes
    salt: bytes

    @classmethod
    def of(cls, secret: bytes, participant_id: str) -> SenderKey:
        return cls(
            hkdf(secret, "media:" + participant_id), hkdf(secret, "salt:" + participant_id, 12)
        )

    def iv(self, counter: int) -> bytes:
        """salt XOR (4 zero bytes || counter, 8 bytes big-endian)."""
        mixed = int.from_bytes(self.salt, "big") ^ counter
        return mixed.to_bytes(12, "big")


def clear_prefix(kind: str, frame: bytes) -> int:
    """How many leading bytes stay clear: Opus's TOC byte; a VP8 keyframe's 10 bytes (frame
    tag, start code, size: the SFU reads the size), a delta frame's 3 (the frame tag, whose
    bit 0 says keyframe or not)."""
    if not frame:
        return 0
    if kind == "audio":
        return 1
    return min(10 if frame[0] & 1 == 0 else 3, len(frame))


def encrypt_frame(key: SenderKey, counter: int, epoch: int, kind: str, frame: bytes) -> bytes:
    clear = clear_prefix(kind, frame)
    prefix = frame[:clear]
    sealed = AESGCM(key.key).encrypt(key.iv(counter), frame[clear:], prefix)
    return prefix + sealed + counter.to_bytes(8, "big") + bytes([epoch & 0xFF, MARK])


@dataclass(frozen=True)
class FrameTrailer:
    counter: int
    epoch_byte: int


def frame_trailer(kind: str, data: bytes) -> FrameTrailer | None:
    """The counter and epoch byte of an encrypted frame, or None if it is not one."""
    if len(data) < clear_prefix(kind, data) + TAG + TRAILER or data[-1] != MARK:
        return None
    return FrameTrailer(int.from_bytes(data[-TRAILER:-2], "big"), data[-2])


def decrypt_frame(key: SenderKey, kind: str, data: bytes) -> bytes | None:
    """The clear frame, or None if ``key`` does not open it (wrong sender, epoch or key)."""
    trailer = frame_trailer(kind, data)
    if trailer is None:
        return None
    clear = clear_prefix(kind, data)
    prefix = data[:clear]
    try:
        plain = AESGCM(key.key).decrypt(key.iv(trailer.counter), data[clear:-TRAILER], prefix)
    except InvalidTag:
        return None
    return prefix + plain


# -- key wrapping between clients ------------------------------------------------------------


class KeyPair:
    """An ephemeral ECDH P-256 key pair, one per join; its public half goes in ``e2ee.hello``."""

    def __init__(self, private: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.private = private or ec.generate_private_key(ec.SECP256R1())
        raw = self.private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        self.public = b64url(raw)

    def wrap_key(self, their_public: str, sender_id: str, recipient_id: str) -> AESGCM:
        point = from_b64url(their_public)
        try:
            theirs = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except ValueError:
            raise E2eeError("not a P-256 public key") from None
        shared = self.private.exchange(ec.ECDH(), theirs)
        return AESGCM(hkdf(shared, f"wrap:{sender_id}>{recipient_id}"))


def wrap_secret(
    pair: KeyPair,
    their_public: str,
    sender_id: str,
    recipient_id: str,
    mask: bytes,
    epoch: int,
    secret: bytes,
    iv: bytes | None = None,
) -> str:
    """The ``blob`` of an ``e2ee.key`` request: base64url(IV || AES-GCM((S xor mask) || epoch))."""
    iv = iv or os.urandom(12)
    masked = bytes(a ^ b for a, b in zip(secret, mask, strict=True))
    sealed = pair.wrap_key(their_public, sender_id, recipient_id).encrypt(
        iv, masked + epoch.to_bytes(4, "big"), None
    )
    return b64url(iv + sealed)


def unwrap_secret(
    pair: KeyPair,
    their_public: str,
    sender_id: str,
    recipient_id: str,
    mask: bytes,
    blob: str,
    epoch: int,
) -> bytes:
    """The secret in a blob handed to us; `E2eeError` if it does not open or its epoch is
    not the one the event says (a relay that mixed them up)."""
    data = from_b64url(blob)
    try:
        plain = pair.wrap_key(their_public, sender_id, recipient_id).decrypt(
            data[:12], data[12:], None
        )
    except InvalidTag:
        raise E2eeError("the wrapped key does not open") from None
    if len(plain) != SECRET_BYTES + 4 or int.from_bytes(plain[SECRET_BYTES:], "big") != epoch:
        raise E2eeError("the wrapped key is not for this epoch")
    return bytes(a ^ b for a, b in zip(plain[:SECRET_BYTES], mask, strict=True))


# -- chat --------------------------------------------------------------------------------------


def encrypt_chat(secret: bytes, sender_id: str, text: str, iv: bytes | None = None) -> str:
    iv = iv or os.urandom(12)
    sealed = AESGCM(hkdf(secret, "chat")).encrypt(iv, text.encode(), sender_id.encode())
    return CHAT_PREFIX + b64url(iv + sealed)


def decrypt_chat(secret: bytes, sender_id: str, text: str) -> str | None:
    """The text of an ``e2ee:`` message under this secret, or None."""
    if not text.startswith(CHAT_PREFIX):
        return None
    try:
        data = from_b64url(text[len(CHAT_PREFIX) :])
        plain = AESGCM(hkdf(secret, "chat")).decrypt(data[:12], data[12:], sender_id.encode())
    except (E2eeError, InvalidTag, ValueError):
        return None
    return plain.decode("utf-8", "replace")


# -- the safety code ---------------------------------------------------------------------------


def safety_code(secret: bytes, public_keys: dict[str, str]) -> str:
    """Ten digits, ``12345 67890``: SHA-256 of the label, the current secret and the sorted
    ``pid:e2ee_key`` lines of everyone keyed; the first 5 bytes, big-endian, mod 10^10. A
    public key the server swapped gives the people it deceives a different code."""
    lines = "\n".join(sorted(f"{pid}:{key}" for pid, key in public_keys.items() if key))
    digest = hashlib.sha256(SAFETY_LABEL + secret + lines.encode()).digest()
    digits = f"{int.from_bytes(digest[:5], 'big') % 10**10:010d}"
    return f"{digits[:5]} {digits[5:]}"


@dataclass
class FrameCounter:
    """One counter for all of a participant's senders (camera, microphone, screen), reset at
    each epoch: no two frames ever share an IV under one key."""

    epoch: int | None = None
    next: int = 0

    def take(self, epoch: int) -> int:
        if epoch != self.epoch:
            self.epoch, self.next = epoch, 0
        count, self.next = self.next, self.next + 1
        return count
