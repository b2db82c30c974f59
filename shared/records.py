"""What every stored resource of an account has in common (pipelines, custom templates)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.clock import wire_time


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
