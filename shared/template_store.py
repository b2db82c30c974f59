"""Custom transcoding templates, stored in Redis per owner, and template resolution.

``resolver(owner)`` is what submit uses: system preset ids (reference §4) first, then the
owner's custom templates. Another owner's template id resolves to nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from shared.catalog import (
    SUBTYPE_NAMES,
    SUBTYPE_NORMAL,
    TYPE_NAMES,
    TYPE_TRANSCODE,
    get_system_template,
)
from shared.clock import new_job_id, now_us, wire_time
from shared.jobstore import PREFIX
from shared.templates import validate_template_config


@dataclass(frozen=True)
class CustomTemplate:
    template_id: str
    owner: str
    name: str
    subtype: int
    config: dict[str, Any]
    create_us: int
    modified_us: int
    is_default: bool = False

    def to_wire(self) -> dict[str, Any]:
        """The ``CustomTemplate`` object of the *CustomTemplate operations."""
        return {
            "TemplateId": self.template_id,
            "TemplateName": self.name,
            "Type": TYPE_TRANSCODE,
            "TypeName": TYPE_NAMES[TYPE_TRANSCODE],
            "Subtype": self.subtype,
            "SubtypeName": SUBTYPE_NAMES.get(self.subtype, "Normal"),
            "Status": "Normal",
            "IsDefault": self.is_default,
            "CreateTime": wire_time(self.create_us),
            "ModifiedTime": wire_time(self.modified_us),
            "TemplateConfig": json.dumps(self.config, separators=(",", ":")),
        }


class TemplateStore:
    """Custom templates in Redis: ``tpl:{id}`` (JSON) and ``tpls:{owner}`` (ids by time)."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    def _key(self, template_id: str) -> str:
        return f"{PREFIX}tpl:{template_id}"

    def _index(self, owner: str) -> str:
        return f"{PREFIX}tpls:{owner}"

    def create(
        self, owner: str, name: str, config: Mapping[str, Any], subtype: int = SUBTYPE_NORMAL
    ) -> CustomTemplate:
        """Validate and store a new template.

        Raises:
            InvalidJob: when ``config`` holds anything mcfarm cannot encode.
        """
        normalized = validate_template_config(config, "TemplateConfig")
        now = now_us()
        tpl = CustomTemplate(new_job_id(), owner, name, subtype, normalized, now, now)
        self._save(tpl)
        self.redis.zadd(self._index(owner), {tpl.template_id: now})
        return tpl

    def _save(self, tpl: CustomTemplate) -> None:
        self.redis.set(self._key(tpl.template_id), json.dumps(tpl.__dict__))

    def get(self, owner: str, template_id: str) -> CustomTemplate | None:
        raw = self.redis.get(self._key(template_id))
        if not raw:
            return None
        tpl = CustomTemplate(**json.loads(raw))
        return tpl if tpl.owner == owner else None

    def list(self, owner: str) -> list[CustomTemplate]:
        ids = self.redis.zrange(self._index(owner), 0, -1)
        return [t for t in (self.get(owner, i) for i in ids) if t is not None]

    def delete(self, owner: str, template_id: str) -> bool:
        if self.get(owner, template_id) is None:
            return False
        self.redis.delete(self._key(template_id))
        self.redis.zrem(self._index(owner), template_id)
        return True

    def resolver(self, owner: str) -> Callable[[str], Mapping[str, Any] | None]:
        """Template id → its ``TemplateConfig`` (system presets, then ``owner``'s own)."""

        def resolve(template_id: str) -> Mapping[str, Any] | None:
            system = get_system_template(template_id)
            if system is not None:
                return system.config_dict()
            custom = self.get(owner, template_id)
            return custom.config if custom else None

        return resolve
