"""The one place that answers "may this account do that?" outside a live meeting.

`mosaic.domain.permissions` decides what a participant may do *in* a meeting; this module
decides what an account may do through the REST API: who may read, change or delete a stored
meeting, read its audit trail, read the instance admin's reports, vouch for addresses, and
mint, list or revoke personal API tokens; with which credential (a browser session, or a
token holding which scope); and who the instance admin is in the first place. The API
handlers resolve the credential, ask `decide`, and turn a refusal into its HTTP answer;
they decide nothing themselves, so a rule changed here changes for every route at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mosaic.domain.scopes import Scope, allows


class AccountAction(StrEnum):
    """Everything an account asks of the REST API, one per route that needs an account."""

    # Any valid credential: who am I.
    SEE_SELF = "see_self"
    # A browser session only: the account's own sign-in and address.
    SIGN_OUT = "sign_out"
    RESEND_VERIFICATION = "resend_verification"
    # Its own meetings: a browser session, or a token with the scope in `RULES`.
    CREATE_MEETING = "create_meeting"
    LIST_MEETINGS = "list_meetings"
    READ_MEETING = "read_meeting"
    EDIT_MEETING = "edit_meeting"
    DELETE_MEETING = "delete_meeting"
    # A meeting's security events: its host, or the instance admin.
    READ_MEETING_AUDIT = "read_meeting_audit"
    # A meeting's server recordings: its host, or the instance admin.
    LIST_RECORDINGS = "list_recordings"
    DOWNLOAD_RECORDING = "download_recording"
    DELETE_RECORDING = "delete_recording"
    # Its own personal API tokens: a browser session only. (Action names, not secrets.)
    MINT_TOKEN = "mint_token"  # noqa: S105
    LIST_TOKENS = "list_tokens"
    REVOKE_TOKEN = "revoke_token"  # noqa: S105
    # The instance admin only, by browser session.
    READ_REPORTS = "read_reports"
    LIST_UNVERIFIED_ACCOUNTS = "list_unverified_accounts"
    VERIFY_ACCOUNT = "verify_account"


class Reach(StrEnum):
    """Which credentials an action accepts."""

    # A browser session only. Tokens never reach their own routes (a leaked token cannot mint
    # another or outlive its revocation) nor the admin's (an admin's script cannot be turned
    # into an admin), nor signing out or mailing links.
    SESSION = "session"
    # A session, or a token holding the action's scope.
    SCOPED = "scoped"
    # A session or any valid token: reading one's own account grants nothing.
    ANY = "any"


class Whose(StrEnum):
    """Whose meeting an action on a stored meeting may touch."""

    HOST = "host"
    HOST_OR_ADMIN = "host_or_admin"


@dataclass(frozen=True, slots=True)
class Rule:
    reach: Reach
    scope: Scope | None = None  # the scope a token needs, for `Reach.SCOPED`
    admin_only: bool = False
    meeting: Whose | None = None  # for actions on one stored meeting


RULES: dict[AccountAction, Rule] = {
    AccountAction.SEE_SELF: Rule(Reach.ANY),
    AccountAction.SIGN_OUT: Rule(Reach.SESSION),
    AccountAction.RESEND_VERIFICATION: Rule(Reach.SESSION),
    AccountAction.CREATE_MEETING: Rule(Reach.SCOPED, Scope.MEETINGS_WRITE),
    AccountAction.LIST_MEETINGS: Rule(Reach.SCOPED, Scope.MEETINGS_READ),
    AccountAction.READ_MEETING: Rule(Reach.SCOPED, Scope.MEETINGS_READ, meeting=Whose.HOST),
    AccountAction.EDIT_MEETING: Rule(Reach.SCOPED, Scope.MEETINGS_WRITE, meeting=Whose.HOST),
    AccountAction.DELETE_MEETING: Rule(Reach.SCOPED, Scope.MEETINGS_WRITE, meeting=Whose.HOST),
    # The host reads what happened in their meeting; the admin, in any (reports lead there).
    AccountAction.READ_MEETING_AUDIT: Rule(Reach.SESSION, meeting=Whose.HOST_OR_ADMIN),
    # Recordings hold everyone's faces and voices: the host's, and the admin's (who answers
    # for the instance: a deletion request, a report), by browser session only, so that no
    # token, however scoped, carries them off.
    AccountAction.LIST_RECORDINGS: Rule(Reach.SESSION, meeting=Whose.HOST_OR_ADMIN),
    AccountAction.DOWNLOAD_RECORDING: Rule(Reach.SESSION, meeting=Whose.HOST_OR_ADMIN),
    AccountAction.DELETE_RECORDING: Rule(Reach.SESSION, meeting=Whose.HOST_OR_ADMIN),
    # Every account may mint tokens with every scope: each scope reaches only the account's
    # own meetings, which its session reaches anyway.
    AccountAction.MINT_TOKEN: Rule(Reach.SESSION),
    AccountAction.LIST_TOKENS: Rule(Reach.SESSION),
    AccountAction.REVOKE_TOKEN: Rule(Reach.SESSION),
    AccountAction.READ_REPORTS: Rule(Reach.SESSION, admin_only=True),
    AccountAction.LIST_UNVERIFIED_ACCOUNTS: Rule(Reach.SESSION, admin_only=True),
    AccountAction.VERIFY_ACCOUNT: Rule(Reach.SESSION, admin_only=True),
}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls: an account, and the scopes of the token it called with (None: by a
    browser session, which may do whatever the account may)."""

    account_id: int
    is_admin: bool = False
    token_scopes: frozenset[Scope] | None = None


@dataclass(frozen=True, slots=True)
class Hosted:
    """A stored meeting, as far as these rules care: whose it is."""

    host_user_id: int


class Verdict(StrEnum):
    ALLOWED = "allowed"
    # A token called an action only a browser session reaches.
    SESSION_ONLY = "session_only"
    # A token without the action's scope (`needed_scope`).
    MISSING_SCOPE = "missing_scope"
    ADMIN_ONLY = "admin_only"
    # Another account's meeting. Answered exactly like a meeting that does not exist, so that
    # meeting IDs cannot be probed through the REST API (the door, which throttles, is the
    # only place that tells whether a meeting exists).
    NOT_YOURS = "not_yours"


def decide(caller: Caller, action: AccountAction, meeting: Hosted | None = None) -> Verdict:
    """May ``caller`` do ``action`` (on ``meeting``, for an action on a stored meeting)?

    The checks run in the order the answers must come: the credential (a token where only a
    session reaches; a token lacking the scope), then the account (admin), then the meeting.
    Without ``meeting``, an action on a meeting is judged on its caller alone: a route asks
    that first, before it looks the meeting up, then asks again with the meeting it found.
    """
    rule = RULES[action]
    if caller.token_scopes is not None:
        if rule.reach is Reach.SESSION:
            return Verdict.SESSION_ONLY
        if rule.reach is Reach.SCOPED:
            assert rule.scope is not None
            if not allows(caller.token_scopes, rule.scope):
                return Verdict.MISSING_SCOPE
    if rule.admin_only and not caller.is_admin:
        return Verdict.ADMIN_ONLY
    if meeting is not None and not _touches(caller, rule.meeting, meeting):
        return Verdict.NOT_YOURS
    return Verdict.ALLOWED


def may(caller: Caller, action: AccountAction, meeting: Hosted | None = None) -> bool:
    return decide(caller, action, meeting) is Verdict.ALLOWED


def _touches(caller: Caller, whose: Whose | None, meeting: Hosted) -> bool:
    if whose is None:
        # A meeting given for an action that is not on one: a caller's slip, never a grant.
        return False
    if meeting.host_user_id == caller.account_id:
        return True
    return whose is Whose.HOST_OR_ADMIN and caller.is_admin


def needed_scope(action: AccountAction) -> Scope | None:
    """The scope a token needs for ``action`` (None: no token needs one, or none reaches)."""
    return RULES[action].scope


def admin_at_creation(accounts_before: int) -> bool:
    """Whether a new account is the instance admin: the first one is, the others are not.

    Whoever reaches a fresh instance first sets it up; there is no other way to name an
    admin. Being first proves nothing about the address, so it is not verified for that
    (`mosaic.api.admin.verify_account`). The store counts the accounts and creates the new
    one in one transaction, asking this rule in between."""
    return accounts_before == 0
