"""Password hashing with argon2id."""

import functools

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from flask_babel import gettext as _

MIN_LENGTH = 12

#: The argon2id parameter sets the PASSWORD_HASH_PROFILE setting may name.
PROFILES = {
    "rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY,
    "rfc9106-high-memory": profiles.RFC_9106_HIGH_MEMORY,
    "cheapest": profiles.CHEAPEST,
}
TEST_ONLY_PROFILES = {"cheapest"}
DEFAULT_PROFILE = "rfc9106-low-memory"


@functools.cache
def _hasher_for(profile: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(PROFILES[profile])


def _profile() -> str:
    if has_app_context():
        return current_app.config.get("PASSWORD_HASH_PROFILE", DEFAULT_PROFILE)
    return DEFAULT_PROFILE


def _hasher() -> PasswordHasher:
    return _hasher_for(_profile())


def hash_password(password: str) -> str:
    """Return an argon2id hash of the password, with the configured parameters."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches the stored hash (whatever its parameters)."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than the configured ones."""
    return _hasher().check_needs_rehash(password_hash)


@functools.cache
def _dummy_hash(profile: str) -> str:
    return _hasher_for(profile).hash("not-a-real-password-for-timing")


def verify_nothing(password: str) -> None:
    """Spend the time a real verification takes, for an account that does not exist."""
    verify_password(_dummy_hash(_profile()), password or "")


def password_problem(password: str) -> str | None:
    """A sentence saying why the password is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return _("The password must have at least %(n)s characters.", n=MIN_LENGTH)
    if password.lower() in _common_passwords():
        return _("That password is too common; choose another.")
    return None


_COMMON = None


def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30,000 most common leaked passwords as a ranked list.
    global _COMMON
    if _COMMON is None:
        from zxcvbn.frequency_lists import FREQUENCY_LISTS

        _COMMON = frozenset(FREQUENCY_LISTS["passwords"])
    return _COMMON
