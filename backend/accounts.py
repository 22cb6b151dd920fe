"""Anonymous accounts, tokens and credits (available / frozen)."""

from __future__ import annotations

import secrets
import time
import uuid

from backend.errors import ApiError
from backend.store import Store


def now() -> float:
    return time.time()


def issue_token(store: Store, client_id: str, credits: int, days: int) -> tuple[dict, dict]:
    """Same client id -> same account; a still-valid token is handed out again."""
    user = store.find("users", "client_id", client_id)
    if user is None:
        user = {"user_id": f"anon_{uuid.uuid4().hex[:12]}", "client_id": client_id, "available": credits,
                "frozen": 0, "created_at": now()}
        store.put("users", user["user_id"], user)
    token = store.get("tokens", user.get("token", "")) if user.get("token") else None
    if token is None or token.get("revoked") or token["expires_at"] <= now():
        token = {"token": "nmv_usr_" + secrets.token_urlsafe(24), "user_id": user["user_id"],
                 "expires_at": now() + days * 86400, "revoked": False}
        store.put("tokens", token["token"], token)
        user["token"] = token["token"]
        store.put("users", user["user_id"], user)
    return user, token


def user_for_token(store: Store, header: str | None) -> dict:
    if not header or not header.startswith("Bearer "):
        raise ApiError(1001, "Please sign in again: the access token is missing.")
    token = store.get("tokens", header[len("Bearer "):].strip())
    if token is None:
        raise ApiError(1001, "Please sign in again: the access token is not valid.")
    if token.get("revoked") or token["expires_at"] <= now():
        raise ApiError(1001, "Please sign in again: the access token has expired.")
    user = store.get("users", token["user_id"])
    if user is None:
        raise ApiError(1001, "Please sign in again: the account is gone.")
    return user


def revoke(store: Store, header: str | None) -> None:
    if header and header.startswith("Bearer "):
        token = store.get("tokens", header[len("Bearer "):].strip())
        if token:
            token["revoked"] = True
            store.put("tokens", token["token"], token)


def available(user: dict, no_credits: bool) -> int:
    return 0 if no_credits else int(user["available"])


def out_of_credits(user: dict, web_url: str, envelope: str = "main", status: int = 200) -> ApiError:
    link = f"{web_url.rstrip('/')}/register?bind={user['user_id']}"
    return ApiError(2001, f"You're out of credits. Register to get more: {link}", status=status,
                    envelope=envelope, data={"register_url": link, "user_id": user["user_id"]})


def charge(store: Store, user_id: str, amount: int) -> None:
    user = store.get("users", user_id)
    user["available"] -= amount
    store.put("users", user_id, user)


def freeze(store: Store, user_id: str, amount: int) -> None:
    user = store.get("users", user_id)
    user["available"] -= amount
    user["frozen"] += amount
    store.put("users", user_id, user)


def settle(store: Store, user_id: str, amount: int, spent: bool) -> None:
    """Unfreeze: spent=True consumes the credits, False gives them back."""
    user = store.get("users", user_id)
    if user is None:
        return
    user["frozen"] = max(0, user["frozen"] - amount)
    if not spent:
        user["available"] += amount
    store.put("users", user_id, user)
