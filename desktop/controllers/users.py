"""Practice users: the first Account Owner, signing in, and adding users.

Passwords are stored as argon2 hashes only. A failed sign-in says nothing about
whether the username exists, and every attempt is audited.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desktop.controllers import validation
from desktop.controllers.base import Controller, audit, before_sign_in, reads, require, writes
from desktop.controllers.errors import InvalidInput, NotSignedIn, PermissionDenied
from desktop.controllers.permissions import Action, Actor
from desktop.domain.models import PracticeUser, Role

_hasher = PasswordHasher()
PASSWORD_MIN = 4
USERNAME_MAX = 64


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def actor_for(user: PracticeUser) -> Actor:
    return Actor(user.id, user.username, user.display_name, user.role, user.entire_practice_access)


def _username(value: str) -> str:
    cleaned = (value or "").strip()
    if not cleaned:
        raise InvalidInput("Username is required.", field="username")
    if len(cleaned) > USERNAME_MAX or any(ch.isspace() for ch in cleaned):
        raise InvalidInput(f"Username must be one word of at most {USERNAME_MAX} characters.",
                           field="username")
    return cleaned


def _password(value: str) -> str:
    if not isinstance(value, str) or len(value) < PASSWORD_MIN:
        raise InvalidInput(f"Password must have at least {PASSWORD_MIN} characters.", field="password")
    return value


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a role; use one of "
                           f"{', '.join(r.value for r in Role)}.", field="role") from None


class UsersController(Controller):
    @before_sign_in("practice.has_users")
    def has_users(self, s: Session) -> bool:
        """Whether the practice has been set up (the first run creates its Account Owner)."""
        return s.execute(select(func.count()).select_from(PracticeUser)).scalar_one() > 0

    @before_sign_in("user.create_owner")
    def create_account_owner(self, s: Session, username: str, display_name: str, password: str) -> Actor:
        """First run only: the practice's first user, who owns the account."""
        if s.execute(select(func.count()).select_from(PracticeUser)).scalar_one():
            raise PermissionDenied("This practice already has an Account Owner; sign in instead.")
        user = PracticeUser(
            username=_username(username),
            display_name=validation.name(display_name or username, "display_name") or username,
            role=Role.ACCOUNT_OWNER, entire_practice_access=True,
            password_hash=hash_password(_password(password)), active=True,
        )
        s.add(user)
        s.flush()
        actor = actor_for(user)
        audit(s, actor, "user.create_owner", "user", user.id)
        return actor

    @before_sign_in("user.sign_in")
    def sign_in(self, s: Session, username: str, password: str) -> Actor:
        """The user behind a username and password; ``NotSignedIn`` (audited) otherwise."""
        user = s.scalars(select(PracticeUser).where(PracticeUser.username == (username or "").strip())
                         ).one_or_none()
        ok = False
        if user is not None and user.active:
            try:
                ok = _hasher.verify(user.password_hash, password or "")
            except (VerificationError, InvalidHashError):
                ok = False
        if not ok:
            # Attempts on unknown usernames are recorded without the name typed:
            # people sometimes type their password into the username field.
            raise NotSignedIn("Wrong username or password.", user_id=user.id if user else None,
                              username_known=user is not None)
        assert user is not None
        audit(s, actor_for(user), "user.sign_in", "user", user.id)
        return actor_for(user)

    @writes("user.add", Action.MANAGE_USERS)
    def add_user(self, s: Session, actor: Actor, username: str, role: Role | str, password: str, *,
                 display_name: str | None = None, entire_practice: bool = False) -> int:
        require(actor, Action.MANAGE_USERS, any_client=True)
        name = _username(username)
        if s.scalars(select(PracticeUser.id).where(PracticeUser.username == name)).first():
            raise InvalidInput(f"There is already a user called {name!r}.", field="username")
        role_value = _role(role)
        user = PracticeUser(
            username=name,
            display_name=validation.name(display_name or name, "display_name") or name,
            role=role_value,
            entire_practice_access=bool(entire_practice) or role_value in (
                Role.ACCOUNT_OWNER, Role.PRACTICE_MANAGER),
            password_hash=hash_password(_password(password)), active=True,
        )
        s.add(user)
        s.flush()
        audit(s, actor, "user.add", "user", user.id, details={"role": role_value.value})
        return user.id

    @reads("user.list", Action.SEE_CLIENTS)
    def list_users(self, s: Session, actor: Actor) -> list[dict[str, object]]:
        """The practice's users (names and roles, for choosing a clinician), by username."""
        return [
            {"id": u.id, "username": u.username, "display_name": u.display_name,
             "role": u.role.value, "entire_practice_access": u.entire_practice_access,
             "active": u.active}
            for u in s.scalars(select(PracticeUser).order_by(PracticeUser.username))
        ]
