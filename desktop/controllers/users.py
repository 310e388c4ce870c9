"""Practice users: the first Account Owner, signing in, and managing users.

Passwords are stored as argon2 hashes only, and every password a person sets
follows ``passwords.check`` (docs/rules.md, "Users and passwords"). A failed
sign-in says nothing about whether the username exists, and every attempt is
audited. A password chosen by someone else (a new user's first one, a reset)
must be changed before anything else; a deactivated user cannot sign in and
their history stays. The practice always keeps an active Account Owner.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from desktop.controllers import passwords, validation
from desktop.controllers.base import Controller, audit, before_sign_in, reads, require, writes
from desktop.controllers.errors import InvalidInput, NotFound, NotSignedIn, PermissionDenied
from desktop.controllers.keyring import Keyring
from desktop.controllers.permissions import Action, Actor
from desktop.domain.models import Outcome, PracticeUser, Role, utcnow

_hasher = PasswordHasher()
USERNAME_MAX = 64


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def actor_for(user: PracticeUser) -> Actor:
    return Actor(user.id, user.username, user.display_name, user.role, user.entire_practice_access,
                 must_change_password=bool(user.must_change_password))


@dataclass(frozen=True)
class UserRow:
    """One line of the Users window and of ``caseload users list``."""

    id: int
    username: str
    display_name: str
    role: Role
    entire_practice: bool
    active: bool
    must_change_password: bool
    last_sign_in: dt.datetime | None

    def as_json(self) -> dict[str, object]:
        return {"username": self.username, "display_name": self.display_name, "role": self.role.value,
                "entire_practice": self.entire_practice, "active": self.active,
                "last_sign_in": self.last_sign_in.isoformat(timespec="seconds") + "Z"
                if self.last_sign_in else None}


def username_problem(value: str) -> str | None:
    """Why ``value`` cannot be a username (whether it is taken aside), in one sentence; None if it can."""
    cleaned = (value or "").strip()
    if not cleaned:
        return "Username is required."
    if len(cleaned) > USERNAME_MAX or any(ch.isspace() for ch in cleaned):
        return f"Username must be one word of at most {USERNAME_MAX} characters."
    return None


def _username(value: str) -> str:
    why = username_problem(value)
    if why:
        raise InvalidInput(why, field="username")
    return (value or "").strip()


def _password(value: str, field: str = "password") -> str:
    return passwords.check(value, field)


@functools.cache
def _stand_in_hash() -> str:
    """A hash with the practice's parameters of a password nobody knows (made once per process)."""
    return _hasher.hash(secrets.token_urlsafe(32))


def _verifies(password_hash: str, password: str | None) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password or ""))
    except (VerificationError, InvalidHashError):
        return False


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a role; use one of "
                           f"{', '.join(r.value for r in Role)}.", field="role") from None


class UsersController(Controller):
    # An encrypted practice's key file, changed in step with the users (set by ``Practice``).
    keyring: Keyring | None = None

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
        if self.keyring is not None:
            self.keyring.owner_created(s, user.username, password)
        actor = actor_for(user)
        audit(s, actor, "user.create_owner", "user", user.id)
        return actor

    @before_sign_in("user.sign_in")
    def sign_in(self, s: Session, username: str, password: str) -> Actor:
        """The user behind a username and password; ``NotSignedIn`` (audited) otherwise.

        On an encrypted file the password has already opened the user's slot of the key file;
        it is checked against the stored hash all the same, so a slot that is stale (a key file
        from an older backup) never stands in for the password the practice knows now.
        """
        user = s.scalars(select(PracticeUser).where(PracticeUser.username == (username or "").strip())
                         ).one_or_none()
        # The password is checked whoever is named, against a stand-in for nobody: an unknown or
        # deactivated username must take as long to refuse as a wrong password, or the time
        # taken would tell a guesser which usernames exist.
        matches = _verifies(user.password_hash if user is not None else _stand_in_hash(), password)
        if user is None or not user.active or not matches:
            # Attempts on unknown usernames are recorded without the name typed:
            # people sometimes type their password into the username field.
            raise NotSignedIn("Wrong username or password.", user_id=user.id if user else None,
                              username_known=user is not None)
        assert user is not None
        user.last_sign_in_at = utcnow()
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
            must_change_password=True,  # someone else chose it
        )
        s.add(user)
        s.flush()
        if self.keyring is not None:
            self.keyring.user_hash(s, user.username, user.password_hash)
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

    # ------------------------------------------------------------ managing users

    @reads("user.manage_list", Action.MANAGE_USERS)
    def users(self, s: Session, actor: Actor) -> list[UserRow]:
        """Every user with what the Users window shows, active ones first, by username."""
        require(actor, Action.MANAGE_USERS, any_client=True)
        rows = [UserRow(u.id, u.username, u.display_name, u.role, u.entire_practice_access, u.active,
                        u.must_change_password, u.last_sign_in_at)
                for u in s.scalars(select(PracticeUser).order_by(PracticeUser.username))]
        return sorted(rows, key=lambda r: not r.active)

    def _user(self, s: Session, username: str, *, for_update: bool = True) -> PracticeUser:
        stmt = select(PracticeUser).where(PracticeUser.username == (username or "").strip())
        if for_update and not self.db.is_sqlite:
            stmt = stmt.with_for_update()
        user = s.scalars(stmt).one_or_none()
        if user is None:
            raise NotFound(f"There is no user called {username!r}.")
        return user

    @staticmethod
    def _other_active_owners(s: Session, user: PracticeUser) -> int:
        return s.execute(select(func.count()).select_from(PracticeUser).where(
            PracticeUser.role == Role.ACCOUNT_OWNER, PracticeUser.active.is_(True),
            PracticeUser.id != user.id)).scalar_one()

    def _lock_owners(self, s: Session) -> None:
        """On PostgreSQL, lock every Account Owner's row (in id order, before any other row) until
        commit, so two owners demoting or deactivating each other at once cannot leave the
        practice with none, nor deadlock."""
        if not self.db.is_sqlite:
            s.scalars(select(PracticeUser.id).where(PracticeUser.role == Role.ACCOUNT_OWNER)
                      .order_by(PracticeUser.id).with_for_update()).all()

    def _keep_an_owner(self, s: Session, user: PracticeUser, doing: str) -> None:
        if user.role is Role.ACCOUNT_OWNER and user.active and not self._other_active_owners(s, user):
            raise InvalidInput(f"{user.display_name} is the practice's only Account Owner; make someone "
                               f"else Account Owner before you {doing}.", field="role")

    @writes("user.deactivate", Action.MANAGE_USERS, target="user:username")
    def deactivate(self, s: Session, actor: Actor, username: str) -> None:
        """The user can no longer sign in or act; their history stays."""
        require(actor, Action.MANAGE_USERS, any_client=True)
        self._lock_owners(s)
        user = self._user(s, username)
        if user.id == actor.user_id:
            raise InvalidInput("You cannot deactivate your own account.", field="username")
        self._keep_an_owner(s, user, "deactivate this one")
        if user.active:
            user.active = False
            if self.keyring is not None:
                self.keyring.user_removed(s, user.username)
            audit(s, actor, "user.deactivate", "user", user.id)

    @writes("user.reactivate", Action.MANAGE_USERS, target="user:username")
    def reactivate(self, s: Session, actor: Actor, username: str) -> None:
        require(actor, Action.MANAGE_USERS, any_client=True)
        user = self._user(s, username)
        if not user.active:
            user.active = True
            if self.keyring is not None:
                self.keyring.user_hash(s, user.username, user.password_hash)
            audit(s, actor, "user.reactivate", "user", user.id)

    @writes("user.change_role", Action.MANAGE_USERS, target="user:username")
    def change_role(self, s: Session, actor: Actor, username: str, role: Role | str, *,
                    entire_practice: bool = False) -> None:
        """A new role (and entire-practice flag); the last active Account Owner keeps theirs."""
        require(actor, Action.MANAGE_USERS, any_client=True)
        self._lock_owners(s)
        user = self._user(s, username)
        new = _role(role)
        if new is not Role.ACCOUNT_OWNER:
            self._keep_an_owner(s, user, "change their role")
        entire = bool(entire_practice) or new in (Role.ACCOUNT_OWNER, Role.PRACTICE_MANAGER)
        if (user.role, user.entire_practice_access) != (new, entire):
            user.role, user.entire_practice_access = new, entire
            audit(s, actor, "user.change_role", "user", user.id,
                  details={"role": new.value, "entire_practice": entire})

    @writes("user.reset_password", Action.MANAGE_USERS, target="user:username")
    def reset_password(self, s: Session, actor: Actor, username: str, password: str) -> None:
        """A new password chosen for someone, who must change it when they next sign in."""
        require(actor, Action.MANAGE_USERS, any_client=True)
        user = self._user(s, username)
        user.password_hash = hash_password(_password(password))
        user.must_change_password = user.id != actor.user_id
        if self.keyring is not None and user.active:
            self.keyring.user_hash(s, user.username, user.password_hash)
        audit(s, actor, "user.reset_password", "user", user.id)

    # Every signed-in user may change their own password: the permission asked is one every
    # role has (seeing clients, if only their own).
    @writes("user.change_password", Action.SEE_CLIENTS)
    def change_password(self, s: Session, actor: Actor, old_password: str, new_password: str) -> Actor:
        """The signed-in user's own password; returns the actor, no longer asked to change it."""
        user = s.get(PracticeUser, actor.user_id)
        if user is None or not user.active:
            raise NotSignedIn("Your account is no longer active; ask the Account Owner.")
        if not _verifies(user.password_hash, old_password):
            raise InvalidInput("That is not your current password.", field="old_password")
        if new_password == old_password:
            raise InvalidInput("Choose a password different from the current one.", field="new_password")
        user.password_hash = hash_password(_password(new_password, "new_password"))
        user.must_change_password = False
        if self.keyring is not None:
            self.keyring.user_password(s, user.username, new_password)
        audit(s, actor, "user.change_password", "user", user.id)
        return actor_for(user)

    @before_sign_in("user.recover")
    def recover_owner(self, s: Session, username: str | None, new_password: str) -> Actor:
        """With the recovery key already proven (``Practice.recover``): a new password for an active
        Account Owner (``username``, or the only one), who is then signed in."""
        owners = list(s.scalars(select(PracticeUser).where(
            PracticeUser.role == Role.ACCOUNT_OWNER, PracticeUser.active.is_(True)).order_by(PracticeUser.id)))
        if username:
            owners = [u for u in owners if u.username == username.strip()]
            if not owners:
                raise InvalidInput(f"{username!r} is not an active Account Owner of this practice; the "
                                   "recovery key sets an Account Owner's password.", field="username")
        elif len(owners) > 1:
            raise InvalidInput("This practice has several Account Owners; say whose password to set "
                               f"with --as ({', '.join(u.username for u in owners)}).", field="username")
        if not owners:
            raise NotFound("This practice has no active Account Owner.")
        user = owners[0]
        user.password_hash = hash_password(_password(new_password, "new_password"))
        user.must_change_password = False
        user.last_sign_in_at = utcnow()
        if self.keyring is not None:
            self.keyring.user_password(s, user.username, new_password)
        actor = actor_for(user)
        audit(s, actor, "user.recover", "user", user.id)
        return actor

    @before_sign_in("user.late_failures")
    def record_failed_attempts(self, s: Session, username: str, times: list[float]) -> None:
        """Failed sign-ins that could not be written when they happened (the practice file was
        locked), written now that someone has signed in as ``username``."""
        user = s.scalars(select(PracticeUser).where(PracticeUser.username == username.strip())).one_or_none()
        for at in times[-50:]:
            audit(s, None, "user.sign_in", "user", user.id if user else None, Outcome.DENIED,
                  details={"refusal": "NotSignedIn", "username_known": user is not None,
                           "at": dt.datetime.fromtimestamp(at, dt.UTC).replace(tzinfo=None).isoformat(
                               timespec="seconds") + "Z", "recorded_at_next_sign_in": True})

    @reads("user.check_owner", Action.MANAGE_USERS)
    def check_account_owner(self, s: Session, actor: Actor) -> None:
        """Refuse unless ``actor`` is (still) an active Account Owner."""
        if actor.role is not Role.ACCOUNT_OWNER:
            raise PermissionDenied("Only the Account Owner can do this.")

    @writes("practice.recovery_key", Action.MANAGE_USERS)
    def replace_recovery_key(self, s: Session, actor: Actor, recovery_key: str) -> None:
        """A new recovery key's slot replaces the old one (the old key opens nothing any more)."""
        if actor.role is not Role.ACCOUNT_OWNER:
            raise PermissionDenied("Only the Account Owner can make a new recovery key.")
        if self.keyring is None:
            raise InvalidInput("This practice file is not encrypted, so it has no recovery key.")
        self.keyring.change(lambda found, key: found.put_recovery(key, recovery_key), s)
        audit(s, actor, "practice.recovery_key", "practice", 1)

    @writes("practice.encrypt", Action.MANAGE_USERS)
    def note_encrypted(self, s: Session, actor: Actor) -> None:
        """Record, in the newly encrypted file, that it was encrypted and by whom."""
        audit(s, actor, "practice.encrypt", "practice", 1)
