"""What one `hermes` invocation shares with its commands (through ctx.obj): the -p profile
and the store. Its own module, below the app and the command modules, so that neither has to
import the other for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hermes.profiles import Profile, ProfileStore


@dataclass
class State:
    """Per-invocation state shared by the commands through ctx.obj."""

    profile_name: str | None = None
    _store: ProfileStore | None = field(default=None, repr=False)

    @property
    def store(self) -> ProfileStore:
        if self._store is None:
            from hermes.profiles import ProfileStore

            self._store = ProfileStore()
        return self._store

    def profile(self) -> Profile:
        return self.store.resolve(self.profile_name)
