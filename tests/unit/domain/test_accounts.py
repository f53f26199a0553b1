"""What an account may do through the REST API, decided without I/O: its own meetings only,
the admin's routes for the admin only, tokens only where their scopes reach."""

from __future__ import annotations

import pytest

from mosaic.domain.accounts import (
    RULES,
    AccountAction,
    Caller,
    Hosted,
    Reach,
    Verdict,
    admin_at_creation,
    decide,
    may,
    needed_scope,
)
from mosaic.domain.scopes import Scope

HOST = Caller(account_id=1)
STRANGER = Caller(account_id=2)
ADMIN = Caller(account_id=3, is_admin=True)
HOSTS_MEETING = Hosted(host_user_id=1)
EVERY_SCOPE = frozenset(Scope)

ON_A_MEETING = [action for action, rule in RULES.items() if rule.meeting is not None]
SESSION_ONLY = [action for action, rule in RULES.items() if rule.reach is Reach.SESSION]
ADMIN_ONLY = [action for action, rule in RULES.items() if rule.admin_only]


def token(account: Caller, *scopes: Scope) -> Caller:
    return Caller(account.account_id, account.is_admin, frozenset(scopes))


def test_every_action_has_a_rule() -> None:
    assert set(RULES) == set(AccountAction)
    for action, rule in RULES.items():
        # A scoped action names its scope; no other action names one.
        assert (rule.reach is Reach.SCOPED) == (rule.scope is not None), action


@pytest.mark.parametrize("action", ON_A_MEETING)
def test_a_host_touches_their_own_meeting_and_a_stranger_does_not(action: AccountAction) -> None:
    assert decide(HOST, action, HOSTS_MEETING) is Verdict.ALLOWED
    assert decide(STRANGER, action, HOSTS_MEETING) is Verdict.NOT_YOURS


def test_the_admin_reads_any_meetings_audit_but_changes_no_one_elses_meeting() -> None:
    assert may(ADMIN, AccountAction.READ_MEETING_AUDIT, HOSTS_MEETING)
    for action in (
        AccountAction.READ_MEETING,
        AccountAction.EDIT_MEETING,
        AccountAction.DELETE_MEETING,
    ):
        assert decide(ADMIN, action, HOSTS_MEETING) is Verdict.NOT_YOURS


@pytest.mark.parametrize("action", ADMIN_ONLY)
def test_admin_routes_are_for_the_admin_alone(action: AccountAction) -> None:
    assert decide(HOST, action) is Verdict.ADMIN_ONLY
    assert decide(ADMIN, action) is Verdict.ALLOWED


@pytest.mark.parametrize("action", SESSION_ONLY)
def test_no_token_reaches_a_session_only_action_whatever_its_scopes(
    action: AccountAction,
) -> None:
    """Not even the admin's token with every scope: a leaked token mints no other token,
    saves itself from no revocation, and reaches none of the admin's routes."""
    assert decide(token(ADMIN, *EVERY_SCOPE), action, HOSTS_MEETING) is Verdict.SESSION_ONLY
    assert decide(token(HOST, *EVERY_SCOPE), action) is Verdict.SESSION_ONLY


def test_a_token_reaches_exactly_what_its_scopes_name() -> None:
    reader = token(HOST, Scope.MEETINGS_READ)
    writer = token(HOST, Scope.MEETINGS_WRITE)
    assert may(reader, AccountAction.READ_MEETING, HOSTS_MEETING)
    assert may(reader, AccountAction.LIST_MEETINGS)
    assert decide(reader, AccountAction.DELETE_MEETING) is Verdict.MISSING_SCOPE
    assert decide(reader, AccountAction.CREATE_MEETING) is Verdict.MISSING_SCOPE
    # Writing does not imply reading.
    assert may(writer, AccountAction.EDIT_MEETING, HOSTS_MEETING)
    assert decide(writer, AccountAction.READ_MEETING) is Verdict.MISSING_SCOPE
    assert needed_scope(AccountAction.DELETE_MEETING) is Scope.MEETINGS_WRITE
    # Any valid token says whose it is.
    assert may(token(HOST), AccountAction.SEE_SELF)


def test_a_token_with_the_scope_still_touches_only_its_accounts_meetings() -> None:
    assert (
        decide(token(STRANGER, *EVERY_SCOPE), AccountAction.DELETE_MEETING, HOSTS_MEETING)
        is Verdict.NOT_YOURS
    )


def test_the_credential_is_judged_before_the_meeting() -> None:
    """A token where only a session reaches is told so, not whether the meeting is its
    account's: the answer does not depend on the meeting."""
    stranger_token = token(STRANGER, *EVERY_SCOPE)
    verdict = decide(stranger_token, AccountAction.READ_MEETING_AUDIT, HOSTS_MEETING)
    assert verdict is Verdict.SESSION_ONLY


def test_a_meeting_given_for_an_action_not_on_one_grants_nothing() -> None:
    assert decide(HOST, AccountAction.LIST_TOKENS, HOSTS_MEETING) is Verdict.NOT_YOURS


def test_the_first_account_is_the_admin_and_no_later_one() -> None:
    assert admin_at_creation(0)
    assert not admin_at_creation(1)
    assert not admin_at_creation(1000)
