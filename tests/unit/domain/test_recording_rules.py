"""Who may start and stop the server's recording: the host; co-hosts only when the host lets
them (`cohosts_may_record`); a refusal changes nothing."""

from __future__ import annotations

import pytest

from mosaic.domain.meeting import Forbidden
from mosaic.domain.permissions import Action, may
from tests.helpers.meetings import seated


def test_the_host_starts_and_stops_the_recording_once() -> None:
    m, host, _, _ = seated()
    assert m.start_recording(host) and m.recording
    assert not m.start_recording(host) and m.recording  # already on: nothing changes
    assert m.stop_recording(host) and not m.recording
    assert not m.stop_recording(host)


@pytest.mark.parametrize("who", ["cohost", "guest"])
def test_a_non_host_starting_a_recording_is_refused_and_nothing_changes(who: str) -> None:
    m, _, cohost, guest = seated()
    actor = {"cohost": cohost, "guest": guest}[who]
    with pytest.raises(Forbidden) as refused:
        m.start_recording(actor)
    assert refused.value.action is Action.START_RECORDING
    assert not m.recording


def test_a_non_host_cannot_stop_the_hosts_recording() -> None:
    m, host, cohost, guest = seated()
    m.start_recording(host)
    for actor in (cohost, guest):
        with pytest.raises(Forbidden):
            m.stop_recording(actor)
    assert m.recording


def test_the_host_may_let_cohosts_record_but_never_participants() -> None:
    m, _, cohost, guest = seated(cohosts_may_record=True)
    assert may(cohost, Action.START_RECORDING, m) and may(cohost, Action.STOP_RECORDING, m)
    assert not may(guest, Action.START_RECORDING, m)
    assert m.start_recording(cohost) and m.stop_recording(cohost)
    with pytest.raises(Forbidden):
        m.start_recording(guest)
    assert not m.recording


def test_a_cohost_cannot_let_themselves_record_through_the_settings() -> None:
    m, host, cohost, _ = seated()
    opened = m.settings.model_copy(update={"cohosts_may_record": True})
    with pytest.raises(Forbidden) as refused:
        m.change_settings(cohost, opened)
    assert refused.value.action is Action.LET_COHOSTS_RECORD
    assert not m.settings.cohosts_may_record and not may(cohost, Action.START_RECORDING, m)
    # Other settings stay theirs to change; the host gives the recording.
    m.change_settings(cohost, m.settings.model_copy(update={"participants_may_chat": False}))
    m.change_settings(host, opened)
    assert may(cohost, Action.START_RECORDING, m)
