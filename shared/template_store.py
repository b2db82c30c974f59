"""Custom transcoding templates, stored in Redis per owner, and template resolution.

``resolver(owner)`` is what submit uses: system preset ids (reference §4) first, then the
owner's custom templates. Another owner's template id resolves to nothing, and every other
operation answers ``ResourceNotFound`` for it, exactly as for an unknown id.

Layout (key names in ``shared.keys``):

- ``tpl:{id}`` — the template as JSON (``CustomTemplate`` fields).
- ``tpls:{owner}`` — sorted set of the owner's template ids scored by ``create_us``.
- ``tpl-default:{owner}:{type}:{subtype}`` → the id of that (Type, Subtype)'s default
  template. ``IsDefault`` is derived from this one key when a template is read, so setting a
  new default clears the old one's flag in the same write, and there is never more than one.

Transcoding templates (``Type`` 1, subtypes 1–5 of reference §2.3) and watermark templates
(``Type`` 4 image, 5 text; no subtype, stored as 0: ``shared.watermarks``) are stored; a
record without a ``type`` (written before watermarks) is a transcoding one. The store takes
typed values that the API already checked (``api/params.py``, the REST schemas): a
non-blank name, a type of ``STORED_TYPES``, a subtype of ``TRANSCODE_SUBTYPE_NAMES``, a
``TemplateConfig`` that ``shared.templates.validate_template_config`` (or
``shared.watermarks.validate_watermark_template``) returned, an order of ``ORDERS``.
The client must be built with ``decode_responses=True`` (as ``Stores.connect`` does).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from shared import keys
from shared.catalog import (
    SUBTYPE_NAMES,
    SUBTYPE_NORMAL,
    TYPE_NAMES,
    TYPE_TRANSCODE,
    get_system_template,
)
from shared.clock import new_job_id, now_us
from shared.errors import require_found
from shared.records import OwnedRecord
from shared.redis_tx import transaction
from shared.watermarks import TEMPLATE_KINDS, WatermarkResolver

#: Transcoding template subtypes (reference §2.3).
TRANSCODE_SUBTYPE_NAMES = {**SUBTYPE_NAMES, 4: "NarrowBandV1", 5: "NarrowBandV2"}
ORDERS = ("CreationTime:Desc", "CreationTime:Asc")
#: Template types stored, and the subtypes each has (0: a type without subtypes).
STORED_TYPES = {TYPE_TRANSCODE: tuple(TRANSCODE_SUBTYPE_NAMES), **{t: (0,) for t in TEMPLATE_KINDS}}
_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, kw_only=True)
class CustomTemplate(OwnedRecord):
    template_id: str
    subtype: int
    config: dict[str, Any]
    type: int = TYPE_TRANSCODE

    def to_wire(self) -> dict[str, Any]:
        """The ``CustomTemplate`` object of the *CustomTemplate operations."""
        wire: dict[str, Any] = {
            "TemplateId": self.template_id,
            "TemplateName": self.name,
            "Type": self.type,
            "TypeName": TYPE_NAMES[self.type],
        }
        if self.type == TYPE_TRANSCODE:
            wire["Subtype"] = self.subtype
            wire["SubtypeName"] = TRANSCODE_SUBTYPE_NAMES.get(self.subtype, "Normal")
        wire |= {
            "Status": "Normal",
            "IsDefault": self.is_default,
            **self.wire_times(),
            "TemplateConfig": json.dumps(self.config, separators=(",", ":")),
        }
        mode = self.config.get("TransConfig", {}).get("TransMode")
        if mode:
            wire["FrontendHint"] = {"TranscodeTemplateHint": {"BitrateControlType": mode}}
        return wire


@dataclass(frozen=True)
class TemplateQuery:
    """What ListCustomTemplates asks for.

    Attributes:
        type: ``Type``: 1, 4 or 5.
        subtype: ``Subtype`` 1–5, or None for all.
        template_id: ``TemplateId``: exact match.
        name: ``Name``: case-insensitive substring of the template name.
        order: ``OrderBy``: one of ``ORDERS``.
        page_number: ``PageNumber`` ≥ 1.
        page_size: ``PageSize`` ≥ 1.
    """

    subtype: int | None = None
    template_id: str | None = None
    type: int = TYPE_TRANSCODE
    name: str | None = None
    order: str = ORDERS[0]
    page_number: int = 1
    page_size: int = 10

    def admits(self, template: CustomTemplate) -> bool:
        """Whether ``template`` matches the type, subtype and name filters."""
        subtype = self.subtype is None or template.subtype == self.subtype
        return (
            template.type == self.type
            and subtype
            and ((self.name or "").lower() in template.name.lower())
        )


# --- the store --------------------------------------------------------------------------


class TemplateStore:
    """Custom templates in Redis. Cheap to build; holds only a client."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    @staticmethod
    def _default_keys(owner: str, template_type: int | None = None) -> list[str]:
        """The default-template keys of ``template_type`` (of every stored type: None)."""
        wanted = STORED_TYPES if template_type is None else [template_type]
        return [keys.default_template(owner, t, s) for t in wanted for s in STORED_TYPES[t]]

    @staticmethod
    def _default_key(owner: str, tpl: CustomTemplate) -> str:
        return keys.default_template(owner, tpl.type, tpl.subtype)

    # --- reads ------------------------------------------------------------------------

    @staticmethod
    def _decode(raw: str | None, owner: str, defaults: set[str]) -> CustomTemplate | None:
        if not raw:
            return None
        fields = json.loads(raw)
        if fields.get("owner") != owner:
            return None
        fields["is_default"] = fields["template_id"] in defaults
        return CustomTemplate(**fields)

    def get(self, owner: str, template_id: str) -> CustomTemplate | None:
        """The template, or None when it does not exist or belongs to another owner."""
        if not isinstance(template_id, str) or not _ID.match(template_id):
            return None
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.template(template_id))
            pipe.mget(self._default_keys(owner))
            raw, defaults = pipe.execute()
        return self._decode(raw, owner, set(filter(None, defaults)))

    def require(self, owner: str, template_id: str) -> CustomTemplate:
        """Like ``get`` but raises ``ResourceNotFound`` (404) instead of answering None."""
        return require_found(self.get(owner, template_id), "template", template_id)

    def get_default(
        self, owner: str, subtype: int | None = None, template_type: int = TYPE_TRANSCODE
    ) -> CustomTemplate | None:
        """The default template of ``template_type`` and ``subtype``; without ``subtype``,
        the default of the lowest subtype that has one. None when there is none.
        """
        names = self._default_keys(owner, template_type)
        if subtype is not None:
            names = [keys.default_template(owner, template_type, subtype)]
        for template_id in self.redis.mget(names):
            tpl = self.get(owner, template_id) if template_id else None
            if tpl is not None:
                return tpl
        return None

    def list(
        self, owner: str, query: TemplateQuery = TemplateQuery()
    ) -> tuple[list[CustomTemplate], int]:
        """The ListCustomTemplates query over the owner's (transcoding) templates.

        Returns:
            ``(page, total)``: the page and how many matched before paging.
        """
        ids = self.redis.zrange(keys.templates(owner), 0, -1, desc=query.order == ORDERS[0])
        if query.template_id:
            ids = [i for i in ids if i == query.template_id]
        if not ids:
            return [], 0
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.mget(self._default_keys(owner))
            pipe.mget([keys.template(i) for i in ids])
            defaults, raws = pipe.execute()
        found = [self._decode(raw, owner, set(filter(None, defaults))) for raw in raws]
        matched = [t for t in found if t is not None and query.admits(t)]
        start = (query.page_number - 1) * query.page_size
        return matched[start : start + query.page_size], len(matched)

    # --- writes -----------------------------------------------------------------------

    def create(
        self,
        owner: str,
        name: str,
        config: dict[str, Any],
        subtype: int = SUBTYPE_NORMAL,
        template_type: int = TYPE_TRANSCODE,
    ) -> CustomTemplate:
        """Store a new template.

        Args:
            owner: the account.
            name: a non-blank name.
            config: a ``TemplateConfig`` as its type's validation returned it.
            subtype: 1–5 for a transcoding template; 0 for a watermark one.
            template_type: a key of ``STORED_TYPES``.
        """
        now = now_us()
        tpl = CustomTemplate(
            template_id=new_job_id(),
            owner=owner,
            name=name,
            type=template_type,
            subtype=subtype,
            config=dict(config),
            create_us=now,
            modified_us=now,
        )
        with self.redis.pipeline() as pipe:
            pipe.set(keys.template(tpl.template_id), self._encode(tpl))
            pipe.zadd(keys.templates(owner), {tpl.template_id: now})
            pipe.execute()
        return tpl

    @staticmethod
    def _encode(tpl: CustomTemplate) -> str:
        fields = dataclasses.asdict(tpl)
        fields.pop("is_default")  # derived from the default key on every read
        return json.dumps(fields)

    def update(
        self,
        owner: str,
        template_id: str,
        *,
        name: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> CustomTemplate:
        """Change a template's name and/or config (None keeps it); returns the stored result.

        Args:
            owner: the account.
            template_id: the template.
            name: a non-blank name.
            config: a ``TemplateConfig`` as ``validate_template_config`` returned it.

        Raises:
            ApiError: ``ResourceNotFound`` (404).
        """
        wanted = {"name": name, "config": config}
        changes = {field: value for field, value in wanted.items() if value is not None}
        self.require(owner, template_id)
        key = keys.template(template_id)

        def body(pipe: redis.client.Pipeline) -> CustomTemplate:
            defaults = set(filter(None, pipe.mget(self._default_keys(owner))))
            before = require_found(
                self._decode(pipe.get(key), owner, defaults), "template", template_id
            )
            if not changes:
                return before
            after = dataclasses.replace(before, **changes, modified_us=now_us())
            pipe.multi()
            pipe.set(key, self._encode(after))
            return after

        return transaction(self.redis, body, key)

    def delete(self, owner: str, template_id: str) -> bool:
        """Delete a template (and its default mark). Returns True.

        Raises:
            ApiError: ``ResourceNotFound`` (404) for an unknown or foreign id.
        """
        tpl = self.require(owner, template_id)
        key, dkey = keys.template(template_id), self._default_key(owner, tpl)

        def body(pipe: redis.client.Pipeline) -> None:
            require_found(self._decode(pipe.get(key), owner, set()), "template", template_id)
            is_default = pipe.get(dkey) == template_id
            pipe.multi()
            pipe.delete(key)
            pipe.zrem(keys.templates(owner), template_id)
            if is_default:
                pipe.delete(dkey)

        transaction(self.redis, body, key, dkey)
        return True

    def set_default(self, owner: str, template_id: str) -> CustomTemplate:
        """Make a template the default of its (Type, Subtype); the previous one stops being.

        Raises:
            ApiError: ``ResourceNotFound`` (404).
        """
        tpl = self.require(owner, template_id)
        key = keys.template(template_id)

        def body(pipe: redis.client.Pipeline) -> None:
            require_found(self._decode(pipe.get(key), owner, set()), "template", template_id)
            pipe.multi()
            pipe.set(self._default_key(owner, tpl), template_id)

        transaction(self.redis, body, key)
        return dataclasses.replace(tpl, is_default=True)

    def resolver(self, owner: str) -> Callable[[str], Mapping[str, Any] | None]:
        """Transcoding template id → its ``TemplateConfig`` (system presets, then
        ``owner``'s own); a watermark template's id resolves to nothing."""

        def resolve(template_id: str) -> Mapping[str, Any] | None:
            system = get_system_template(template_id)
            if system is not None:
                return system.config_dict()
            custom = self.get(owner, template_id)
            return custom.config if custom and custom.type == TYPE_TRANSCODE else None

        return resolve

    def watermark_resolver(self, owner: str) -> WatermarkResolver:
        """Watermark template id → ``(Type, TemplateConfig)`` of ``owner``'s Type 4 or 5
        template (there are no system ones), else None."""

        def resolve(template_id: str) -> tuple[int, Mapping[str, Any]] | None:
            custom = self.get(owner, template_id)
            if custom is None or custom.type == TYPE_TRANSCODE:
                return None
            return custom.type, custom.config

        return resolve
