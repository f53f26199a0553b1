"""Personal API tokens of a signed-in user: made (shown once), listed, revoked.

Only a browser session reaches these routes (`mosaic.domain.accounts`): a token cannot make
another token, nor save itself from revocation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mosaic.api.deps import Authorized, ServicesDep, permit
from mosaic.api.errors import SIGNED_IN, WRITE, RowId, responses
from mosaic.domain.accounts import AccountAction
from mosaic.domain.scopes import Scope
from mosaic.domain.text import clean_name
from mosaic.store.tokens import MAX_PER_ACCOUNT, TokenRecord, TooManyTokens

router = APIRouter(prefix="/api/tokens", tags=["API tokens"])

Label = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(clean_name)]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Label = Field(description="what the token is for, e.g. 'calendar sync'")
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))


class TokenOut(BaseModel):
    id: int
    name: str
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None = None

    @classmethod
    def of(cls, record: TokenRecord) -> TokenOut:
        return cls(
            id=record.id,
            name=record.name,
            scopes=sorted(record.scopes),
            created_at=record.created_at,
            last_used_at=record.last_used_at,
        )


class NewToken(TokenOut):
    token: str = Field(description="Send as 'Authorization: Bearer <token>'. Shown only now.")


@router.post(
    "", status_code=201, response_model=NewToken, responses=responses(*SIGNED_IN, *WRITE, 409)
)
async def create_token(
    body: TokenIn, svc: ServicesDep, who: Annotated[Authorized, permit(AccountAction.MINT_TOKEN)]
) -> NewToken:
    """A new token for scripts; only its SHA-256 is kept, so it is shown this once."""
    try:
        token, record = await svc.tokens.create(who.account.id, body.name, frozenset(body.scopes))
    except TooManyTokens:
        raise HTTPException(
            409, detail=f"at most {MAX_PER_ACCOUNT} tokens: revoke one first"
        ) from None
    return NewToken(**TokenOut.of(record).model_dump(), token=token)


@router.get("", response_model=list[TokenOut], responses=responses(*SIGNED_IN))
async def list_tokens(
    svc: ServicesDep, who: Annotated[Authorized, permit(AccountAction.LIST_TOKENS)]
) -> list[TokenOut]:
    return [TokenOut.of(record) for record in await svc.tokens.list_for(who.account.id)]


@router.delete("/{token_id}", status_code=204, responses=responses(*SIGNED_IN, *WRITE, 404))
async def revoke_token(
    token_id: RowId,
    svc: ServicesDep,
    who: Annotated[Authorized, permit(AccountAction.REVOKE_TOKEN)],
) -> Response:
    """Revoke at once: the next call with the token is a 401."""
    if not await svc.tokens.revoke(who.account.id, token_id):
        raise HTTPException(404, detail="no such token")
    return Response(status_code=204)
