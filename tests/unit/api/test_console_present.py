"""api.console.present and api.console.session: what the console's pages show, exactly."""

from __future__ import annotations

import pytest
from flask import Flask

from api.console.present import (
    Preview,
    error_field,
    ffmpeg_runs,
    file_preview,
    format_eta,
    group_preview,
    progress,
    scrub,
)
from api.console.session import check_csrf, csrf_token, sign_in, signed_in, signing_secret
from shared.config import AccessKey
from shared.containers import media_type
from shared.errors import ApiError
from shared.jobrecord import JobRecord
from shared.planning import OutputSpec
from tests.unit.specs import hls_group

S = 1_000_000


def spec(index: int, fmt: str = "mp4", group_type: str = "File") -> OutputSpec:
    return OutputSpec(
        index=index,
        name=f"o{index}",
        input_index=0,
        input_media="oss://media/in.mp4",
        output_media=f"oss://out/o{index}.{fmt}",
        template_id="S00000001-200010",
        config={"Container": {"Format": fmt}},
        group=0 if group_type != "File" else None,
        group_type=group_type,
    )


def record(specs, outputs, **more) -> JobRecord:
    return JobRecord(
        job_id="j1",
        owner="acme",
        doc={"Config": {}},
        specs=specs,
        create_us=0,
        state=more.pop("state", "Running"),
        outputs=outputs,
        **more,
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, ""), (0, "0:00"), (7, "0:07"), (750, "12:30"), (3723, "1:02:03"), (-3, "0:00")],
)
def test_format_eta(seconds, text):
    assert format_eta(seconds) == text


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ('The specified parameter "Config" is not valid: not JSON', "Config"),
        ('The specified parameter "Config.Outputs[0].TemplateId" is not valid.', "Config"),
        ('The resource operated "PipelineId" (p-1) cannot be found.', "PipelineId"),
        ('The specified parameter "UserData" is not valid: It is longer than 1024', "UserData"),
        ("Something without a parameter", "Config"),
        ('The "Inputs[0]" and then "PipelineId"', "PipelineId"),
    ],
)
def test_an_error_is_shown_next_to_the_field_it_names(message, field):
    assert error_field(message) == field


def test_progress_of_a_running_job_has_its_eta():
    rec = record([spec(0)], {0: {"Status": "Running"}}, progress={0: 25}, starts={0: {"us": 0}})
    assert progress(rec, 30 * S) == {
        "State": "Running",
        "Percent": 25,
        "EtaSeconds": 90,
        "Eta": "1:30",
        "Live": True,
    }
    done = record([spec(0)], {0: {"Status": "Success"}}, state="Complete")
    assert progress(done, 30 * S) == {
        "State": "Complete",
        "Percent": 100,
        "EtaSeconds": None,
        "Eta": "",
        "Live": False,
    }


def test_file_previews_follow_the_container():
    specs = [spec(0, "mp4"), spec(1, "flv"), spec(2, "m4a"), spec(3, "mp4")]
    outputs = {i: {"Status": "Success"} for i in range(3)} | {3: {"Status": "Running"}}
    rec = record(specs, outputs)
    assert [file_preview(rec, s) for s in specs] == [
        Preview("video", output=0),
        Preview("mpegts", output=1),
        Preview("audio", output=2),
        None,  # not finished
    ]
    hls = spec(4, "m3u8", "Hls")
    assert file_preview(record([hls], {4: {"Status": "Success"}}), hls) is None  # a rendition


def test_a_group_preview_plays_its_manifest_once_packaged():
    group = hls_group()
    packaged = record([], {}, groups=[group], group_states={0: {"Status": "Success"}})
    assert group_preview(packaged, group) == Preview("hls", group=0, name="master.m3u8")
    running = record([], {}, groups=[group], group_states={0: {"Status": "Running"}})
    assert group_preview(running, group) is None


def test_storage_urls_are_scrubbed():
    detail = {
        "Result": {
            "OutputFile": {"Media": "oss://out/a.mp4", "Url": "http://10.0.0.5:8333/out/a.mp4"},
            "OutFileMeta": {"FileBasicInfo": {"FileUrl": "http://10.0.0.5/x", "Size": 3}},
        },
        "Chunks": [{"Url": "x", "Chunk": 0}],
    }
    assert scrub(detail) == {
        "Result": {
            "OutputFile": {"Media": "oss://out/a.mp4"},
            "OutFileMeta": {"FileBasicInfo": {"Size": 3}},
        },
        "Chunks": [{"Chunk": 0}],
    }


def test_ffmpeg_runs_list_the_output_then_its_parts_in_order():
    rec = record(
        [spec(0)],
        {},
        ffmpeg={0: {"Command": "ffmpeg -i a", "Log": ""}},
        part_ffmpeg={
            0: {
                "join": {"Command": "j", "Log": ""},
                "c10": {"Command": "c10", "Log": ""},
                "audio": {"Command": "a", "Log": "warn"},
                "c2": {"Command": "c2", "Log": ""},
            }
        },
    )
    runs = ffmpeg_runs(rec, 0)
    assert [(r.label, r.command) for r in runs] == [
        ("", "ffmpeg -i a"),
        ("c2", "c2"),
        ("c10", "c10"),
        ("audio", "a"),
        ("join", "j"),
    ]
    assert ffmpeg_runs(rec, 1) == []


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("master.m3u8", "application/vnd.apple.mpegurl"),
        ("video/480p_00001.ts", "video/mp2t"),
        ("manifest.mpd", "application/dash+xml"),
        ("seg-1.m4s", "video/iso.segment"),
        ("a.MP4", "video/mp4"),
        ("a.flv", "video/x-flv"),
        ("a.mp3", "audio/mpeg"),
        ("noext", "application/octet-stream"),
    ],
)
def test_media_types(name, kind):
    assert media_type(name) == kind


KEYS = {"k1": AccessKey("k1", "s1", "acme"), "k2": AccessKey("k2", "s2", "globex")}


def test_a_session_names_its_key_until_the_secret_changes():
    app = Flask(__name__)
    app.secret_key = signing_secret(KEYS)
    with app.test_request_context("/console/jobs"):
        assert signed_in(KEYS) is None
        sign_in(KEYS["k1"])
        assert signed_in(KEYS) == KEYS["k1"]
        rotated = KEYS | {"k1": AccessKey("k1", "new-secret", "acme")}
        assert signed_in(rotated) is None
        assert signed_in({"k2": KEYS["k2"]}) is None  # the key was removed


def test_the_signing_secret_follows_the_keys():
    assert signing_secret(KEYS) == signing_secret(dict(reversed(KEYS.items())))
    assert signing_secret(KEYS) != signing_secret({"k1": KEYS["k1"]})


def test_csrf_tokens_are_checked():
    app = Flask(__name__)
    app.secret_key = "x"
    with app.test_request_context("/console/submit"):
        with pytest.raises(ApiError) as refused:
            check_csrf("")  # no session token yet
        assert refused.value.http_status == 403 and refused.value.code == "Forbidden.Csrf"
        token = csrf_token()
        assert csrf_token() == token  # stable within the session
        check_csrf(token)
        for wrong in (None, "", token + "x", token[:-1]):
            with pytest.raises(ApiError):
                check_csrf(wrong)
        sign_in(KEYS["k1"])
        with pytest.raises(ApiError):
            check_csrf(token)  # signing in starts a new token
