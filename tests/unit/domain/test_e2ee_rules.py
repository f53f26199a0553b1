"""The server's rules for end-to-end encrypted meetings (docs/e2ee.md): it relays public keys
and wrapped keys it cannot read, to admitted participants only; it carries only ciphertext
chat and keeps none; it does not record."""

from __future__ import annotations

import pytest

from mosaic.domain.access import Visitor
from mosaic.domain.meeting import Forbidden, NotFound
from mosaic.domain.roster import State
from mosaic.domain.settings import InstancePolicy, MeetingSettings
from mosaic.domain.text import MAX_E2EE_CHAT_CHARS, TextError, clean_chat_or_ciphertext
from tests.helpers.meetings import seated

KEY = "B" + "A" * 86
CIPHERTEXT = "e2ee:" + "x" * 60


def test_a_waiting_guest_can_be_handed_no_key() -> None:
    m, host, _, _ = seated(e2ee=True)
    m.settings = m.settings.model_copy(update={"waiting_room": True})
    waiter, _ = m.enter("waiter", "Waiter", Visitor(), 1.0)
    assert waiter.state is State.WAITING
    waiter.e2ee_key = KEY  # even were it known (it cannot say hello while waiting)
    with pytest.raises(NotFound):
        m.e2ee_key_recipient(host, waiter.id)
    with pytest.raises(Forbidden):
        m.publish_e2ee_key(waiter, KEY)
    m.admit(host, waiter)
    assert m.e2ee_key_recipient(host, waiter.id) is waiter


def test_keys_go_only_to_a_published_key_in_an_encrypted_meeting() -> None:
    m, host, _, guest = seated(e2ee=True)
    with pytest.raises(Forbidden):
        m.e2ee_key_recipient(host, guest.id)  # nothing to wrap to yet
    m.publish_e2ee_key(guest, KEY)
    assert m.e2ee_key_recipient(host, guest.id) is guest
    assert m.e2ee_key_recipient(m.roster.get("cohost"), guest.id) is guest  # any admitted
    with pytest.raises(NotFound):
        m.e2ee_key_recipient(guest, guest.id)
    with pytest.raises(NotFound):
        m.e2ee_key_recipient(host, "nobody")
    plain, host2, _, guest2 = seated()
    guest2.e2ee_key = KEY
    with pytest.raises(Forbidden):
        plain.publish_e2ee_key(host2, KEY)
    with pytest.raises(Forbidden):
        plain.e2ee_key_recipient(host2, guest2.id)


def test_an_encrypted_meeting_is_not_recorded_and_says_why() -> None:
    m, host, _, _ = seated(e2ee=True)
    with pytest.raises(Forbidden) as refused:
        m.start_recording(host)
    assert refused.value.reason == "e2ee"
    assert str(refused.value) == "recording is not available in an end-to-end encrypted meeting"
    plain, host2, _, _ = seated()
    assert plain.start_recording(host2)
    with pytest.raises(Forbidden) as turned:  # no encryption switched on under a recording
        plain.change_settings(host2, plain.settings.model_copy(update={"e2ee": True}))
    assert turned.value.reason == "recording"
    with pytest.raises(Forbidden) as guest_refused:  # a guest hears only "not allowed"
        m.start_recording(m.roster.get("guest"))
    assert guest_refused.value.reason is None


def test_an_encrypted_meeting_carries_only_ciphertext_chat_and_keeps_none() -> None:
    m, _, _, _ = seated(e2ee=True, record_chat=True)
    with pytest.raises(Forbidden):
        m.check_chat_text("hello in clear")
    m.check_chat_text(CIPHERTEXT)
    assert not m.keeps_chat()
    plain, _, _, _ = seated(record_chat=True)
    plain.check_chat_text("e2ee:is just words here")
    with pytest.raises(Forbidden):
        plain.check_chat_text("e2ee:" + "x" * 3000)
    assert plain.keeps_chat()


def test_ciphertext_chat_is_relayed_as_it_is_within_its_limit() -> None:
    assert clean_chat_or_ciphertext(CIPHERTEXT) == CIPHERTEXT
    longest = "e2ee:" + "A" * (MAX_E2EE_CHAT_CHARS - 5)
    assert clean_chat_or_ciphertext(longest) == longest
    with pytest.raises(TextError):
        clean_chat_or_ciphertext(longest + "A")
    assert clean_chat_or_ciphertext("  hi  ") == "hi"  # plain chat is cleaned as ever


def test_an_instance_can_require_encryption() -> None:
    policy = InstancePolicy(require_e2ee=True)
    assert policy.violations(MeetingSettings()) == ["e2ee"]
    assert policy.imposed(MeetingSettings(), set()).e2ee
    asked_off = MeetingSettings(e2ee=False)
    assert not policy.imposed(asked_off, {"e2ee"}).e2ee  # refused by violations, with why
    assert InstancePolicy().imposed(MeetingSettings(), set()) == MeetingSettings()
