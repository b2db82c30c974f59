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

Only transcoding templates (``Type`` 1, subtypes 1–5 of reference §2.3) are stored.
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
    KNOWN_TYPES,
    SUBTYPE_NAMES,
    SUBTYPE_NORMAL,
    TYPE_NAMES,
    TYPE_TRANSCODE,
    get_system_template,
    int_param,
    page_params,
)
from shared.clock import new_job_id, now_us, wire_time
from shared.errors import invalid_parameter, missing_parameter, resource_not_found
from shared.redis_tx import transaction
from shared.templates import validate_template_config

#: Transcoding template subtypes (reference §2.3).
TRANSCODE_SUBTYPE_NAMES = {**SUBTYPE_NAMES, 4: "NarrowBandV1", 5: "NarrowBandV2"}
ORDERS = ("CreationTime:Desc", "CreationTime:Asc")
MAX_NAME = 128
_ID = re.compile(r"^[0-9a-f]{32}$")


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
        wire: dict[str, Any] = {
            "TemplateId": self.template_id,
            "TemplateName": self.name,
            "Type": TYPE_TRANSCODE,
            "TypeName": TYPE_NAMES[TYPE_TRANSCODE],
            "Subtype": self.subtype,
            "SubtypeName": TRANSCODE_SUBTYPE_NAMES.get(self.subtype, "Normal"),
            "Status": "Normal",
            "IsDefault": self.is_default,
            "CreateTime": wire_time(self.create_us),
            "ModifiedTime": wire_time(self.modified_us),
            "TemplateConfig": json.dumps(self.config, separators=(",", ":")),
        }
        mode = self.config.get("TransConfig", {}).get("TransMode")
        if mode:
            wire["FrontendHint"] = {"TranscodeTemplateHint": {"BitrateControlType": mode}}
        return wire


# --- parameter checks -------------------------------------------------------------------


def _name(value: Any, *, required: bool = True) -> str:
    if required and value in (None, ""):
        raise missing_parameter("Name")
    if not isinstance(value, str) or not value.strip():
        raise invalid_parameter("Name", "It must be a non-empty string.")
    if len(value) > MAX_NAME:
        raise invalid_parameter("Name", f"It must be at most {MAX_NAME} characters long.")
    return value


def _type(value: Any) -> int:
    """A known template ``Type`` (1–11); None/"" is missing."""
    if value in (None, ""):
        raise missing_parameter("Type")
    return int_param(value, "Type", KNOWN_TYPES.start, KNOWN_TYPES.stop - 1)


def _subtype(value: Any, default: int | None = SUBTYPE_NORMAL) -> int | None:
    if value in (None, ""):
        return default
    return int_param(value, "Subtype", 1, max(TRANSCODE_SUBTYPE_NAMES))


def _config(value: Any, *, required: bool = True) -> dict[str, Any]:
    """``TemplateConfig`` as an object or a JSON string, validated and normalized.

    Raises:
        ApiError: missing, or not JSON.
        InvalidJob: anything mcfarm cannot encode (rendered as a 400 by the API).
    """
    if required and value in (None, ""):
        raise missing_parameter("TemplateConfig")
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            raise invalid_parameter("TemplateConfig", "It is not valid JSON.") from None
    return validate_template_config(value, "TemplateConfig")


def _order(value: Any) -> str:
    if value in (None, ""):
        return ORDERS[0]
    if value not in ORDERS:
        raise invalid_parameter("OrderBy", f"Valid values: {', '.join(ORDERS)}.")
    return value


# --- the store --------------------------------------------------------------------------


class TemplateStore:
    """Custom templates in Redis. Cheap to build; holds only a client."""

    def __init__(self, client: redis.Redis):
        self.redis = client

    @staticmethod
    def _default_keys(owner: str) -> list[str]:
        return [keys.default_template(owner, TYPE_TRANSCODE, s) for s in TRANSCODE_SUBTYPE_NAMES]

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
        """Like ``get`` but raises ``MissingParameter`` / ``ResourceNotFound`` (404)."""
        if template_id in (None, ""):
            raise missing_parameter("TemplateId")
        tpl = self.get(owner, template_id)
        if tpl is None:
            raise resource_not_found("template", str(template_id))
        return tpl

    def get_default(
        self, owner: str, type_: int | str, subtype: int | str | None = None
    ) -> CustomTemplate | None:
        """The default template of ``(type_, subtype)``; without ``subtype``, the default of
        the lowest subtype that has one. None when there is none (or ``type_`` is not 1).

        Raises:
            ApiError: ``MissingParameter``/``InvalidParameter`` naming ``Type`` or ``Subtype``.
        """
        type_ = _type(type_)
        wanted = _subtype(subtype, default=None)
        if type_ != TYPE_TRANSCODE:
            return None
        names = self._default_keys(owner)
        if wanted is not None:
            names = [keys.default_template(owner, TYPE_TRANSCODE, wanted)]
        for template_id in self.redis.mget(names):
            tpl = self.get(owner, template_id) if template_id else None
            if tpl is not None:
                return tpl
        return None

    def list(
        self,
        owner: str,
        *,
        type_: int | str | None = TYPE_TRANSCODE,
        subtype: int | str | None = None,
        template_id: str | None = None,
        name: str | None = None,
        order: str | None = "CreationTime:Desc",
        page_number: int | str | None = 1,
        page_size: int | str | None = 10,
    ) -> tuple[list[CustomTemplate], int]:
        """The ListCustomTemplates query.

        Args:
            type_: ``Type``, required (only 1 has templates).
            subtype: ``Subtype`` 1–5, or None for all.
            template_id: ``TemplateId``: exact match.
            name: ``Name``: case-insensitive substring of the template name.
            order: ``OrderBy``: ``CreationTime:Desc`` (default) or ``CreationTime:Asc``.
            page_number: ``PageNumber`` ≥ 1.
            page_size: ``PageSize`` 1–100, default 10.

        Returns:
            ``(page, total)``: the page and how many matched before paging.

        Raises:
            ApiError: ``MissingParameter``/``InvalidParameter`` naming the field.
        """
        type_ = _type(type_)
        wanted = _subtype(subtype, default=None)
        order = _order(order)
        number, size = page_params(page_number, page_size, 10)
        if type_ != TYPE_TRANSCODE:
            return [], 0
        ids = self.redis.zrange(keys.templates(owner), 0, -1, desc=order == ORDERS[0])
        if template_id:
            ids = [i for i in ids if i == template_id]
        if not ids:
            return [], 0
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.mget(self._default_keys(owner))
            pipe.mget([keys.template(i) for i in ids])
            defaults, raws = pipe.execute()
        needle = (name or "").lower()
        found = [self._decode(raw, owner, set(filter(None, defaults))) for raw in raws]
        matched = [
            t
            for t in found
            if t is not None
            and (wanted is None or t.subtype == wanted)
            and needle in t.name.lower()
        ]
        start = (number - 1) * size
        return matched[start : start + size], len(matched)

    # --- writes -----------------------------------------------------------------------

    def create(
        self,
        owner: str,
        name: str,
        config: Mapping[str, Any] | str,
        subtype: int | str | None = SUBTYPE_NORMAL,
        type_: int | str | None = TYPE_TRANSCODE,
    ) -> CustomTemplate:
        """Validate and store a new transcoding template.

        Raises:
            ApiError: ``MissingParameter``/``InvalidParameter`` naming ``Type`` (anything but
                1), ``Subtype``, ``Name`` or ``TemplateConfig`` (not JSON).
            InvalidJob: when ``config`` holds anything mcfarm cannot encode.
        """
        if _type(type_) != TYPE_TRANSCODE:
            raise invalid_parameter("Type", "mcfarm supports only transcoding templates (Type 1).")
        subtype = _subtype(subtype)
        name = _name(name)
        normalized = _config(config)
        now = now_us()
        tpl = CustomTemplate(new_job_id(), owner, name, subtype, normalized, now, now)
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
        config: Mapping[str, Any] | str | None = None,
    ) -> CustomTemplate:
        """Change a template's name and/or config; returns the stored result.

        Raises:
            ApiError: ``ResourceNotFound``; ``InvalidParameter`` naming the field.
            InvalidJob: when ``config`` holds anything mcfarm cannot encode.
        """
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = _name(name, required=False)
        if config is not None:
            changes["config"] = _config(config, required=False)
        self.require(owner, template_id)
        key = keys.template(template_id)

        def body(pipe: redis.client.Pipeline) -> CustomTemplate:
            defaults = set(filter(None, pipe.mget(self._default_keys(owner))))
            before = self._decode(pipe.get(key), owner, defaults)
            if before is None:
                raise resource_not_found("template", template_id)
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
            ApiError: ``MissingParameter``; ``ResourceNotFound`` (404) for an unknown or
                foreign id.
        """
        tpl = self.require(owner, template_id)
        key, dkey = (
            keys.template(template_id),
            keys.default_template(owner, TYPE_TRANSCODE, tpl.subtype),
        )

        def body(pipe: redis.client.Pipeline) -> None:
            if self._decode(pipe.get(key), owner, set()) is None:
                raise resource_not_found("template", template_id)
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
            ApiError: ``MissingParameter``; ``ResourceNotFound`` (404).
        """
        tpl = self.require(owner, template_id)
        key = keys.template(template_id)

        def body(pipe: redis.client.Pipeline) -> None:
            if self._decode(pipe.get(key), owner, set()) is None:
                raise resource_not_found("template", template_id)
            pipe.multi()
            pipe.set(keys.default_template(owner, TYPE_TRANSCODE, tpl.subtype), template_id)

        transaction(self.redis, body, key)
        return dataclasses.replace(tpl, is_default=True)

    def resolver(self, owner: str) -> Callable[[str], Mapping[str, Any] | None]:
        """Template id → its ``TemplateConfig`` (system presets, then ``owner``'s own)."""

        def resolve(template_id: str) -> Mapping[str, Any] | None:
            system = get_system_template(template_id)
            if system is not None:
                return system.config_dict()
            custom = self.get(owner, template_id)
            return custom.config if custom else None

        return resolve
