"""Profiles: isolated agent directories under $HERMES_HOME/profiles, and their store."""

from hermes.profiles.paths import DEFAULT_PROFILE, Profile, hermes_home, validate_name
from hermes.profiles.store import Created, ProfileInfo, ProfileStore

__all__ = [
    "DEFAULT_PROFILE",
    "Created",
    "Profile",
    "ProfileInfo",
    "ProfileStore",
    "hermes_home",
    "validate_name",
]
