"""Sign-up and address verification: what happens, and what each mail says.

Sign-up answers the same whether or not the address already has an account (same status,
same body, about the same time: one argon2 hash and a few database writes either way, and the
mail goes out from a background task). What happened is told only to the mailbox:

- a new address gets a link that verifies it;
- an address whose account is verified gets "someone tried to sign up with your address";
- an address whose account was never verified gets a link that verifies it *and* gives the
  account the password and name of this attempt: the owner of the mailbox takes the address
  back from whoever signed up with it first (a squatter cannot verify what they do not read).

Every link asks for the password chosen at the sign-up that caused it (the account's, or the
attempt's): reading the mailbox is not enough, so the owner of an address cannot verify a
stranger's account by clicking a link they did not ask for.

An unverified account can sign in and host meetings, but its address satisfies no e-mail
domain rule and no "signed-in users only" rule (see `mosaic.domain.meeting`).
"""

from __future__ import annotations

import logging

from mosaic.domain.accounts import admin_at_creation
from mosaic.mail import Letter
from mosaic.security.hashing import hash_secret
from mosaic.services import Services
from mosaic.store.users import EMAIL_TOKEN_LIFETIME, Account, EmailTaken

log = logging.getLogger(__name__)

_HOURS = int(EMAIL_TOKEN_LIFETIME.total_seconds() // 3600)


def verify_link(svc: Services, token: str) -> str:
    # The token travels in the fragment: browsers never send it to a server, so it stays out
    # of access logs, proxies and Referer headers.
    return f"{svc.settings.base_url}/verify#{token}"


def verify_letter(to: str, link: str) -> Letter:
    # Nothing the person signing up typed (their name) goes in: the mail may reach a stranger
    # whose address was borrowed, and must not carry an attacker's words to them.
    return Letter(
        to=to,
        subject="Verify your e-mail address for Mosaic",
        body=(
            "Hello,\n\n"
            "An account was created on Mosaic with this e-mail address. To confirm that the"
            " address is yours, open this link, enter the password you chose, and press the"
            " button:\n\n"
            f"{link}\n\n"
            f"The link works once, for {_HOURS} hours. If you did not sign up, ignore this"
            " mail: the address stays unverified.\n\n"
            "--\n"
            "Bonjour,\n\n"
            "Un compte Mosaic a été créé avec cette adresse. Pour confirmer qu'elle est la"
            " vôtre, ouvrez le lien ci-dessus, saisissez le mot de passe choisi et appuyez sur"
            " le bouton. Sans demande de votre part, ignorez ce message.\n"
        ),
    )


def already_registered_letter(to: str, login_url: str) -> Letter:
    return Letter(
        to=to,
        subject="Someone tried to sign up to Mosaic with your address",
        body=(
            "Hello,\n\n"
            "Someone tried to create a Mosaic account with this e-mail address, which already"
            " has one. Nothing was changed. If it was you, sign in instead:\n\n"
            f"{login_url}\n\n"
            "If it was not you, you need do nothing.\n\n"
            "--\n"
            "Bonjour,\n\n"
            "Quelqu'un a essayé de créer un compte Mosaic avec cette adresse, qui en a déjà un."
            " Rien n'a été modifié. Si c'était vous, connectez-vous avec le lien ci-dessus ;"
            " sinon, vous n'avez rien à faire.\n"
        ),
    )


def claim_letter(to: str, link: str) -> Letter:
    return Letter(
        to=to,
        subject="Confirm your e-mail address for Mosaic",
        body=(
            "Hello,\n\n"
            "Someone tried to sign up to Mosaic with this e-mail address. An account with it"
            " already exists, but its address was never confirmed. If you just signed up,"
            " open this link, enter the password you just chose, and press the button: the"
            " address becomes yours,"
            " and the account takes the name and password you just chose (any other sign-in"
            " to it ends).\n\n"
            f"{link}\n\n"
            f"The link works once, for {_HOURS} hours. If it was not you, ignore this mail.\n\n"
            "--\n"
            "Bonjour,\n\n"
            "Quelqu'un a essayé de créer un compte Mosaic avec cette adresse, qui a déjà un"
            " compte jamais confirmé. Si c'était vous, ouvrez le lien ci-dessus et appuyez sur"
            " le bouton : l'adresse devient la vôtre, avec le nom et le mot de passe que vous"
            " venez de choisir. Sinon, ignorez ce message.\n"
        ),
    )


async def _take_share(svc: Services, to: str) -> bool:
    """Whether a mail may go to ``to`` now: mail is on and this recipient has not had its
    share this hour (nobody mail-bombs a stranger through our sign-up form)."""
    if svc.mailer is None:
        return False
    return await svc.mail_throttle.retry_after("to:" + to) == 0


async def sign_up(svc: Services, name: str, email: str, password: str) -> None:
    """Create an account, or tell the address's owner that someone tried: see the module's
    docstring. The caller answers the same in both cases."""
    password_hash = await hash_secret(password)
    try:
        account = await svc.users.create(name, email, password_hash, admin_if=admin_at_creation)
    except EmailTaken:
        existing = await svc.users.find(email)
        if existing is None:  # deleted in between: nothing to tell
            return
        if svc.mailer is None or not await _take_share(svc, email):
            return
        if existing.email_verified:
            svc.mailer.send(already_registered_letter(email, svc.settings.base_url + "/"))
        else:
            token = await svc.users.issue_email_token(
                existing.id, email, new_password_hash=password_hash, new_name=name
            )
            svc.mailer.send(claim_letter(email, verify_link(svc, token)))
        return
    log.info("account %d created", account.id)
    await send_verification(svc, account)


async def send_verification(svc: Services, account: Account) -> bool:
    """Mail a fresh verification link; False if mail is off or the recipient's share is spent."""
    if svc.mailer is None or account.email_verified or not await _take_share(svc, account.email):
        return False
    token = await svc.users.issue_email_token(account.id, account.email)
    svc.mailer.send(verify_letter(account.email, verify_link(svc, token)))
    return True
