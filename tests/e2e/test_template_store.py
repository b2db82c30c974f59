"""TemplateStore against a real redis-server (DB 11 of the session's private server)."""

from __future__ import annotations

import dataclasses
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from shared.clock import new_job_id, parse_wire_time
from shared.errors import ApiError
from shared.template_store import CustomTemplate, TemplateQuery, TemplateStore

pytestmark = pytest.mark.e2e

OWNER, OTHER = "acct-a", "acct-b"
MP4 = {
    "Container": {"Format": "mp4"},
    "Video": {"Codec": "H.264", "Bitrate": 1200, "Width": 1280},
    "Audio": {"Codec": "aac", "Bitrate": 128},
    "TransConfig": {"TransMode": "onepass"},
}
MP3 = {"Container": {"Format": "mp3"}, "Audio": {"Codec": "mp3", "Bitrate": 128}}
REMUX = {"Container": {"Format": "mp4"}, "Video": {"Codec": "copy"}, "Audio": {"Codec": "copy"}}


@pytest.fixture
def client(redis_base) -> redis.Redis:
    conn = redis.Redis.from_url(f"{redis_base}/11", decode_responses=True)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture
def store(client) -> TemplateStore:
    return TemplateStore(client)


def _code(excinfo) -> tuple[str, int]:
    return excinfo.value.code, excinfo.value.http_status


# --- create / get / wire --------------------------------------------------------------


def test_create_and_wire_shape(store):
    tpl = store.create(OWNER, "my mp4", MP4)
    wire = tpl.to_wire()
    assert set(wire) == {
        "TemplateId",
        "TemplateName",
        "Type",
        "TypeName",
        "Subtype",
        "SubtypeName",
        "Status",
        "IsDefault",
        "CreateTime",
        "ModifiedTime",
        "TemplateConfig",
        "FrontendHint",
    }
    assert wire["TemplateName"] == "my mp4"
    assert (wire["Type"], wire["TypeName"], wire["Subtype"], wire["SubtypeName"]) == (
        1,
        "TranscodeTemplate",
        1,
        "Normal",
    )
    assert (wire["Status"], wire["IsDefault"]) == ("Normal", False)
    assert isinstance(wire["TemplateConfig"], str)
    assert json.loads(wire["TemplateConfig"])["Video"]["Bitrate"] == 1200
    assert wire["FrontendHint"] == {"TranscodeTemplateHint": {"BitrateControlType": "onepass"}}
    parse_wire_time(wire["CreateTime"])
    parse_wire_time(wire["ModifiedTime"])
    assert len(tpl.template_id) == 32 and int(tpl.template_id, 16) >= 0
    assert store.get(OWNER, tpl.template_id) == tpl
    assert store.require(OWNER, tpl.template_id) == tpl


def test_config_is_stored_and_resolvable(store):
    """Configs arrive checked and normalized (tests/unit/api/test_actions.py)."""
    tpl = store.create(OWNER, "n", MP4)
    assert store.get(OWNER, tpl.template_id).config == MP4
    resolve = store.resolver(OWNER)
    assert resolve(tpl.template_id) == tpl.config
    assert resolve("S00000001-200030")["Container"] == {"Format": "mp4"}
    assert store.resolver(OTHER)(tpl.template_id) is None
    assert "FrontendHint" not in store.create(OWNER, "m", MP3).to_wire()


@pytest.mark.parametrize(
    ("subtype", "name"),
    [
        (1, "Normal"),
        (2, "AudioTranscode"),
        (3, "Remux"),
        (4, "NarrowBandV1"),
        (5, "NarrowBandV2"),
    ],
)
def test_every_transcoding_subtype_is_accepted(store, subtype, name):
    tpl = store.create(OWNER, "t", MP4, subtype=subtype)
    assert tpl.subtype == subtype
    assert tpl.to_wire()["SubtypeName"] == name


def test_name_of_128_characters(store):
    assert store.create(OWNER, "n" * 128, MP4).name == "n" * 128


# --- update / delete ------------------------------------------------------------------


def test_update_name_and_config(store):
    tpl = store.create(OWNER, "old", MP4)
    renamed = store.update(OWNER, tpl.template_id, name="new")
    assert renamed.name == "new" and renamed.config == tpl.config
    assert renamed.create_us == tpl.create_us and renamed.modified_us >= tpl.modified_us
    changed = store.update(OWNER, tpl.template_id, config=REMUX)
    assert changed.name == "new" and changed.config["Video"] == {"Codec": "copy"}
    assert store.get(OWNER, tpl.template_id) == changed
    assert store.update(OWNER, tpl.template_id) == changed


def test_update_keeps_default_mark(store):
    tpl = store.create(OWNER, "old", MP4)
    store.set_default(OWNER, tpl.template_id)
    assert store.update(OWNER, tpl.template_id, name="new").is_default


def test_delete(store):
    keep = store.create(OWNER, "keep", MP4)
    gone = store.create(OWNER, "gone", MP4)
    assert store.delete(OWNER, gone.template_id) is True
    assert store.get(OWNER, gone.template_id) is None
    assert store.list(OWNER) == ([keep], 1)
    with pytest.raises(ApiError) as excinfo:
        store.delete(OWNER, gone.template_id)
    assert _code(excinfo) == ("ResourceNotFound", 404)


def test_unknown_ids(store):
    store.create(OWNER, "t", MP4)
    for call in (
        lambda tid: store.require(OWNER, tid),
        lambda tid: store.update(OWNER, tid, name="x"),
        lambda tid: store.delete(OWNER, tid),
        lambda tid: store.set_default(OWNER, tid),
    ):
        for tid in (new_job_id(), "S00000001-200030", "../../x", ""):
            with pytest.raises(ApiError) as excinfo:
                call(tid)
            assert _code(excinfo) == ("ResourceNotFound", 404)


# --- defaults -------------------------------------------------------------------------


def test_set_default_is_unique_per_subtype(store):
    a = store.create(OWNER, "a", MP4)
    b = store.create(OWNER, "b", MP4)
    audio = store.create(OWNER, "audio", MP3, subtype=2)
    assert store.get_default(OWNER) is None

    assert store.set_default(OWNER, a.template_id).is_default
    assert store.get(OWNER, a.template_id).is_default
    assert store.get_default(OWNER, 1).template_id == a.template_id

    store.set_default(OWNER, b.template_id)
    assert not store.get(OWNER, a.template_id).is_default
    assert store.get(OWNER, b.template_id).is_default
    assert store.get_default(OWNER, 1).template_id == b.template_id
    assert store.get_default(OWNER, 2) is None

    store.set_default(OWNER, audio.template_id)
    assert store.get(OWNER, b.template_id).is_default  # another subtype's default
    assert store.get_default(OWNER, 2).template_id == audio.template_id
    assert store.get_default(OWNER).template_id == b.template_id  # lowest subtype first
    page, _ = store.list(OWNER)
    assert {t.name for t in page if t.is_default} == {"b", "audio"}


def test_get_default_without_subtype_falls_to_next_subtype(store):
    audio = store.create(OWNER, "audio", MP3, subtype=2)
    store.set_default(OWNER, audio.template_id)
    assert store.get_default(OWNER).template_id == audio.template_id


def test_deleting_the_default_clears_it(store):
    a = store.create(OWNER, "a", MP4)
    store.set_default(OWNER, a.template_id)
    store.delete(OWNER, a.template_id)
    assert store.get_default(OWNER) is None
    b = store.create(OWNER, "b", MP4)
    assert not b.is_default and not store.get(OWNER, b.template_id).is_default


def test_concurrent_set_default_leaves_exactly_one(store):
    ids = [store.create(OWNER, f"t{i}", MP4).template_id for i in range(12)]
    barrier = threading.Barrier(len(ids))

    def set_default(tid):
        barrier.wait()
        store.set_default(OWNER, tid)

    with ThreadPoolExecutor(len(ids)) as pool:
        list(pool.map(set_default, ids))
    page, total = store.list(OWNER, TemplateQuery(page_size=100))
    assert total == 12
    defaults = [t for t in page if t.is_default]
    assert len(defaults) == 1
    assert store.get_default(OWNER) == defaults[0]


# --- list -----------------------------------------------------------------------------


def _seed(store: TemplateStore) -> list[CustomTemplate]:
    made = []
    for i in range(7):
        made.append(store.create(OWNER, f"Video {i}", MP4))
    made.append(store.create(OWNER, "Audio only", MP3, subtype=2))
    made.append(store.create(OWNER, "Remux it", REMUX, subtype=3))
    return made


def test_list_order_paging_and_total(store):
    made = _seed(store)
    newest_first = [t.template_id for t in reversed(made)]
    page, total = store.list(OWNER)
    assert total == 9 and [t.template_id for t in page] == newest_first
    page, total = store.list(OWNER, TemplateQuery(order="CreationTime:Asc", page_size=4))
    assert total == 9 and [t.template_id for t in page] == [t.template_id for t in made[:4]]
    page, total = store.list(
        OWNER, TemplateQuery(order="CreationTime:Asc", page_number=3, page_size=4)
    )
    assert total == 9 and [t.template_id for t in page] == [made[8].template_id]
    assert store.list(OWNER, TemplateQuery(page_number=4, page_size=4)) == ([], 9)
    pages = [store.list(OWNER, TemplateQuery(page_number=n, page_size=2))[0] for n in range(1, 6)]
    assert [t.template_id for p in pages for t in p] == newest_first


def test_list_filters(store):
    made = _seed(store)
    page, total = store.list(OWNER, TemplateQuery(subtype=2))
    assert total == 1 and page[0].name == "Audio only"
    page, total = store.list(OWNER, TemplateQuery(subtype=1, page_size=100))
    assert total == 7 and {t.subtype for t in page} == {1}
    page, total = store.list(OWNER, TemplateQuery(name="video", order="CreationTime:Asc"))
    assert total == 7 and page[0].name == "Video 0"
    assert store.list(OWNER, TemplateQuery(name="it"))[1] == 1
    assert store.list(OWNER, TemplateQuery(name="nothing")) == ([], 0)
    page, total = store.list(OWNER, TemplateQuery(template_id=made[3].template_id))
    assert (total, page) == (1, [made[3]])
    assert store.list(OWNER, TemplateQuery(template_id=made[3].template_id, subtype=2)) == ([], 0)
    assert store.list(OWNER, TemplateQuery(template_id=new_job_id())) == ([], 0)
    assert store.list(OWNER, TemplateQuery(subtype=5)) == ([], 0)


def test_list_page_size_bounds(store):
    _seed(store)
    assert len(store.list(OWNER, TemplateQuery(page_size=1))[0]) == 1
    assert len(store.list(OWNER, TemplateQuery(page_size=100))[0]) == 9


# --- owners ---------------------------------------------------------------------------


def test_foreign_template_behaves_like_an_unknown_one(store):
    theirs = store.create(OTHER, "theirs", MP4)
    store.set_default(OTHER, theirs.template_id)
    mine = store.create(OWNER, "mine", MP4)
    tid = theirs.template_id
    assert store.get(OWNER, tid) is None
    assert store.list(OWNER) == ([mine], 1)
    assert store.list(OWNER, TemplateQuery(template_id=tid)) == ([], 0)
    assert store.get_default(OWNER) is None
    for call in (
        lambda: store.require(OWNER, tid),
        lambda: store.update(OWNER, tid, name="stolen"),
        lambda: store.delete(OWNER, tid),
        lambda: store.set_default(OWNER, tid),
    ):
        with pytest.raises(ApiError) as excinfo:
            call()
        assert _code(excinfo) == ("ResourceNotFound", 404)
    untouched = store.get(OTHER, tid)
    assert untouched.name == "theirs" and untouched.is_default
    assert store.get_default(OTHER).template_id == tid
    assert not store.get(OWNER, mine.template_id).is_default


# --- watermark templates (Types 4 and 5) ----------------------------------------------------


def test_watermark_templates_keep_their_type_defaults_and_lists(store):
    image = store.create(OWNER, "logo", {"Width": 32}, subtype=0, template_type=4)
    text = store.create(OWNER, "caption", {"Content": "c"}, subtype=0, template_type=5)
    mp4 = store.create(OWNER, "mp4", MP4)
    assert store.get(OWNER, image.template_id).type == 4
    assert [t.template_id for t in store.list(OWNER, TemplateQuery(type=5))[0]] == [
        text.template_id
    ]
    assert store.list(OWNER)[1] == 1  # Type 1 lists transcoding templates only
    store.set_default(OWNER, text.template_id)
    store.set_default(OWNER, mp4.template_id)
    assert store.get_default(OWNER, template_type=5) == dataclasses.replace(text, is_default=True)
    assert store.get_default(OWNER, template_type=4) is None
    assert store.get(OWNER, mp4.template_id).is_default  # one default per type
    # Submit resolves each kind of id only where it belongs.
    assert store.resolver(OWNER)(image.template_id) is None
    assert store.watermark_resolver(OWNER)(image.template_id) == (4, {"Width": 32})
    assert store.watermark_resolver(OWNER)(mp4.template_id) is None
    assert store.watermark_resolver(OTHER)(text.template_id) is None
    store.delete(OWNER, text.template_id)
    assert store.get_default(OWNER, template_type=5) is None
