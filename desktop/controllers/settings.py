"""The practice's own details and the services it offers (Practice settings).

Everyone signed in may read them (About shows them, exported records carry
them); only the roles the permission table allows may change them. A save
made from an older version of the settings is refused, like a profile's.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from desktop.controllers import validation
from desktop.controllers.base import (
    Controller,
    audit,
    check_version,
    flush_versioned,
    reads,
    require,
    writes,
)
from desktop.controllers.errors import InvalidInput, StaleVersion
from desktop.controllers.permissions import Action, Actor
from desktop.domain import clock
from desktop.domain.models import PracticeSettings, Service

FIELDS = (("name", "Practice name", 200), ("address", "Address", 500), ("phone", "Phone", 40),
          ("tax_id", "Tax id (EIN)", 20), ("npi", "NPI", 10), ("time_zone", "Time zone", 64))
MAX_SERVICES = 200
IDLE_LOCK_DEFAULT, IDLE_LOCK_MIN, IDLE_LOCK_MAX = 10, 1, 60  # minutes (docs/rules.md, "Privacy at rest")
MAX_MINUTES = 600
MAX_FEE = Decimal("100000")


@dataclass(frozen=True)
class ServiceRow:
    code: str
    description: str
    minutes: int
    default_fee: Decimal

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "description": self.description, "minutes": self.minutes,
                "default_fee": str(self.default_fee)}


@dataclass(frozen=True)
class Settings:
    name: str = ""
    address: str = ""
    phone: str = ""
    tax_id: str = ""
    npi: str = ""
    version: int = 0  # 0: never saved
    services: tuple[ServiceRow, ...] = field(default_factory=tuple)
    time_zone: str = ""  # empty: the computer's own
    idle_lock_minutes: int = IDLE_LOCK_DEFAULT

    @property
    def zone(self) -> ZoneInfo:
        """The zone appointments are shown and billed in (docs/rules.md, "Appointments")."""
        return clock.zone(self.time_zone)

    @property
    def zone_name(self) -> str:
        return self.zone.key

    def header_lines(self) -> list[str]:
        """The practice as the top of an exported record names it (empty lines left out)."""
        lines = [self.name, *self.address.splitlines(), self.phone,
                 f"EIN {self.tax_id}" if self.tax_id else "", f"NPI {self.npi}" if self.npi else ""]
        return [line for line in lines if line.strip()]

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "phone": self.phone, "tax_id": self.tax_id,
                "npi": self.npi, "time_zone": self.zone_name, "idle_lock_minutes": self.idle_lock_minutes,
                "version": self.version,
                "services": [s.as_json() for s in self.services]}


def _text(values: Mapping[str, Any], key: str, label: str, limit: int) -> str:
    value = values.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{label} must be text.", field=key)
    cleaned = unicodedata.normalize("NFC", value).strip()
    if len(cleaned) > limit:
        raise InvalidInput(f"{label} can have at most {limit} characters.", field=key)
    allowed = "\n" if key == "address" else ""
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co") and ch not in allowed for ch in cleaned):
        raise InvalidInput(f"{label} contains a control character.", field=key)
    hidden = validation.invisible(cleaned)
    if hidden:
        raise InvalidInput(f"{label} contains an invisible character ({hidden}); retype it.", field=key)
    return cleaned


def idle_lock_minutes(value: Any) -> int:
    """Minutes before the idle lock, as typed (a whole number from 1 to 60), else ``InvalidInput``."""
    problem = (f"Lock after must be a whole number of minutes from {IDLE_LOCK_MIN} to {IDLE_LOCK_MAX}.")
    if isinstance(value, bool):
        raise InvalidInput(problem, field="idle_lock_minutes")
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 3:
            raise InvalidInput(problem, field="idle_lock_minutes")
        value = int(text)
    if not isinstance(value, int) or not IDLE_LOCK_MIN <= value <= IDLE_LOCK_MAX:
        raise InvalidInput(problem, field="idle_lock_minutes")
    return value


def _clean_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - {key for key, _label, _limit in FIELDS} - {"idle_lock_minutes"}
    if unknown:
        raise InvalidInput(f"Unknown setting {sorted(unknown)[0]!r}.", field=sorted(unknown)[0])
    cleaned: dict[str, Any] = {key: _text(values, key, label, limit) for key, label, limit in FIELDS}
    if values.get("idle_lock_minutes") is not None:
        cleaned["idle_lock_minutes"] = idle_lock_minutes(values["idle_lock_minutes"])
    tax_id = cleaned["tax_id"]
    if tax_id and not (len(tax_id.replace("-", "")) == 9 and tax_id.replace("-", "").isdigit()):
        raise InvalidInput("A tax id (EIN) has nine digits, as in 12-3456789.", field="tax_id")
    npi = cleaned["npi"]
    if npi and not (len(npi) == 10 and npi.isdigit() and _npi_check_digit_ok(npi)):
        raise InvalidInput("An NPI has ten digits, the last a check digit; this one is not valid.",
                           field="npi")
    if cleaned["time_zone"] and not clock.is_zone(cleaned["time_zone"]):
        raise InvalidInput(f"{cleaned['time_zone']!r} is not a time zone this computer knows; "
                           "choose one from the list, such as America/New_York.", field="time_zone")
    return cleaned


def _npi_check_digit_ok(npi: str) -> bool:
    """The Luhn check over "80840" + the first nine digits, as CMS defines the NPI check digit."""
    digits = [int(d) for d in "80840" + npi[:9]]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10 == int(npi[9])


def _clean_services(services: Sequence[Mapping[str, Any]]) -> list[ServiceRow]:
    if len(services) > MAX_SERVICES:
        raise InvalidInput(f"A practice can list at most {MAX_SERVICES} services.", field="services")
    rows: list[ServiceRow] = []
    seen: set[str] = set()
    for number, service in enumerate(services, start=1):
        where = f"Service {number}"
        code = _text(service, "code", f"{where}: the code", 16).upper()
        if not code:
            raise InvalidInput(f"{where}: a code is required (such as 90834).", field="code")
        if code in seen:
            raise InvalidInput(f"{where}: the code {code} is listed twice.", field="code")
        seen.add(code)
        description = _text(service, "description", f"{where}: the description", 200)
        if not description:
            raise InvalidInput(f"{where}: a description is required.", field="description")
        try:
            minutes = int(str(service.get("minutes", "")).strip())
        except ValueError:
            raise InvalidInput(f"{where}: minutes must be a whole number.", field="minutes") from None
        if not 1 <= minutes <= MAX_MINUTES:
            raise InvalidInput(f"{where}: minutes must be between 1 and {MAX_MINUTES}.", field="minutes")
        try:
            fee = Decimal(str(service.get("default_fee", "")).strip().lstrip("$").replace(",", ""))
        except InvalidOperation:
            raise InvalidInput(f"{where}: the fee must be an amount such as 150.00.",
                               field="default_fee") from None
        if not fee.is_finite() or fee < 0 or fee > MAX_FEE or fee != fee.quantize(Decimal("0.01")):
            raise InvalidInput(f"{where}: the fee must be an amount from 0 to {MAX_FEE:,}, in cents at most.",
                               field="default_fee")
        rows.append(ServiceRow(code, description, minutes, fee.quantize(Decimal("0.01"))))
    return rows


def problems(values: Mapping[str, Any], services: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """What ``SettingsController.save`` would refuse, checked as the person types: each
    detail's sentence by its field, and the services' first one under ``"services"``."""
    found: dict[str, str] = {}
    for key, value in values.items():
        try:
            _clean_settings({key: value})
        except InvalidInput as error:
            found[error.field or key] = str(error)
    try:
        _clean_services(services)
    except InvalidInput as error:
        found["services"] = str(error)
    return found


class SettingsController(Controller):
    @reads("settings.read", Action.SEE_CLIENTS)
    def settings(self, s: Session, actor: Actor) -> Settings:
        """The practice's details and services (every signed-in user may read them)."""
        return self._read(s)

    @classmethod
    def practice_header(cls, s: Session) -> dict[str, str]:
        """The practice as an exported record names it (no services)."""
        found = cls._read(s)
        return {"name": found.name, "address": found.address, "phone": found.phone,
                "tax_id": found.tax_id, "npi": found.npi}

    @staticmethod
    def _read(s: Session) -> Settings:
        row = s.get(PracticeSettings, 1)
        services = tuple(ServiceRow(v.code, v.description, v.minutes, v.default_fee)
                         for v in s.scalars(select(Service).order_by(Service.position, Service.id)))
        if row is None:
            return Settings(services=services)
        return Settings(row.name, row.address, row.phone, row.tax_id, row.npi, row.version, services,
                        row.time_zone or "", row.idle_lock_minutes or IDLE_LOCK_DEFAULT)

    @writes("settings.save", Action.PRACTICE_SETTINGS)
    def save(self, s: Session, actor: Actor, expected_version: int, values: Mapping[str, Any],
             services: Sequence[Mapping[str, Any]]) -> Settings:
        """Save the details and the whole list of services at once, unless someone saved since."""
        require(actor, Action.PRACTICE_SETTINGS, any_client=True)
        cleaned = _clean_settings(values)
        rows = _clean_services(services)
        services_changed = tuple(rows) != self._read(s).services
        row = s.get(PracticeSettings, 1)
        if row is None:
            if expected_version != 0:
                raise StaleVersion("The practice settings were removed after you opened them; "
                                   "nothing of yours was saved.")
            row = PracticeSettings(id=1, **cleaned)
            s.add(row)
        else:
            check_version(row, expected_version)
            for key, value in cleaned.items():
                setattr(row, key, value)
            if services_changed and not s.is_modified(row):
                flag_modified(row, "name")  # only the services changed: the version moves all the same
        if services_changed:
            with s.no_autoflush:
                s.execute(delete(Service))
                s.add_all(Service(code=r.code, description=r.description, minutes=r.minutes,
                                  default_fee=r.default_fee, position=i) for i, r in enumerate(rows))
        try:
            flush_versioned(s)
        except IntegrityError:
            # Another workstation saved the practice's first settings at the same moment.
            raise StaleVersion("Someone else saved the practice settings at the same moment. Reload "
                               "to see their changes; nothing of yours was saved.") from None
        audit(s, actor, "settings.save", "practice", 1,
              details={"fields": sorted(cleaned), "services": len(rows)})
        return self._read(s)

    @reads("practice.backup_check", Action.PRACTICE_SETTINGS)
    def check_may_back_up(self, s: Session, actor: Actor) -> None:
        """Refuse unless ``actor`` may back the practice up (who may change its settings)."""
        require(actor, Action.PRACTICE_SETTINGS, any_client=True)

    @writes("practice.backup", Action.PRACTICE_SETTINGS)
    def backed_up(self, s: Session, actor: Actor, file_name: str) -> None:
        """Record that a backup was written (its file name only)."""
        audit(s, actor, "practice.backup", "practice", 1, details={"file": file_name[:200]})
