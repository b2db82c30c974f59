"""Shapes records share: a dataclass stored as a plain dict, an account's named resource."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Self

from shared.clock import wire_time


class Plain:
    """A dataclass that is stored and sent as a plain dict of its fields (JSON)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Self:
        return cls(**raw)


@dataclass(frozen=True, kw_only=True)
class OwnedRecord:
    """A named record of one account, with its creation and modification times.

    Attributes:
        owner: the account; another account's id behaves exactly like an unknown one.
        is_default: the account's default of its kind (derived where the store keeps the
            default apart).
    """

    owner: str
    name: str
    create_us: int
    modified_us: int
    is_default: bool = False

    def wire_times(self) -> dict[str, str]:
        """``CreateTime`` and ``ModifiedTime`` as ICE writes them."""
        return {
            "CreateTime": wire_time(self.create_us),
            "ModifiedTime": wire_time(self.modified_us),
        }
