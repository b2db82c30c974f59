"""End to end over HTTP: a real API, real Celery workers, real FFmpeg, local storage."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from cli.client import ApiCallFailed
from shared.config import Settings
from tests.e2e.conftest import MEDIA_BUCKET, TERMINAL, client_for, wait_job
from tests.e2e.observe import farm_stores, wait_until

pytestmark = pytest.mark.e2e

FRAME = 1 / 25  # the sources are 25 fps


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def streams(probe: dict, kind: str) -> list[dict]:
    return [s for s in probe["streams"] if s["codec_type"] == kind]


def local_path(farm, media: str) -> Path:
    assert media.startswith("oss://")
    return Path(farm.env["MCFARM_STORAGE_ROOT"]) / media[len("oss://") :]


def src(name: str) -> dict:
    return {"Name": "in", "InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/{name}"}}


def out(name: str, template: str, media: str, **override) -> dict:
    item = {"Name": name, "TemplateId": template, "OutputFile": {"Type": "OSS", "Media": media}}
    if override:
        item["OverrideParams"] = json.dumps(override)
    return item


def test_ladder_completes_with_output_details(client, local_farm, media):
    config = {
        "JobName": "ladder",
        "Inputs": [src("sample.mp4")],
        "Outputs": [
            out(
                "h264-320",
                "S00000001-200010",
                "oss://results/ladder/320.mp4",
                Video={"Width": 320, "Preset": "ultrafast"},
            ),
            out(
                "h265-240",
                "S00000001-110021",
                "oss://results/ladder/240.mp4",
                Video={"Height": 240, "Preset": "ultrafast"},
            ),
        ],
    }
    job = client.submit({"Config": config, "UserData": '{"k":1}'})
    assert job["State"] == "Inited" and len(job["JobId"]) == 32
    job = wait_job(client, job["JobId"], local_farm)
    assert job["State"] == "Complete", job
    assert job["Percent"] == 100 and job["FinishTime"] >= job["CreateTime"]
    assert job["UserData"] == '{"k":1}' and job["Config"] == config
    source = float(ffprobe(media["sample.mp4"])["format"]["duration"])
    expected = {"h264-320": ("h264", 320, 180), "h265-240": ("hevc", 426, 240)}
    assert [d["Name"] for d in job["OutputDetails"]] == ["h264-320", "h265-240"]
    for detail in job["OutputDetails"]:
        assert detail["Status"] == "Success", detail
        codec, width, height = expected[detail["Name"]]
        path = local_path(local_farm, detail["Result"]["OutputFile"]["Media"])
        probe = ffprobe(path)
        video = streams(probe, "video")[0]
        assert (video["codec_name"], video["width"], video["height"]) == (codec, width, height)
        assert streams(probe, "audio")[0]["codec_name"] == "aac"
        assert abs(float(probe["format"]["duration"]) - source) <= FRAME + 0.03
        meta = detail["Result"]["OutFileMeta"]
        assert meta["FileBasicInfo"]["Width"] == str(width)
        assert meta["FileBasicInfo"]["FileSize"] == str(path.stat().st_size)
        assert meta["VideoStreamInfoList"][0]["Codec_name"] == codec
        assert meta["AudioStreamInfoList"][0]["CodecName"] == "aac"
    _assert_ffmpeg_recorded(local_farm, job)


def _assert_ffmpeg_recorded(farm, job: dict) -> None:
    """Each output's FFmpeg command and stderr tail are on the job record (for the console),
    and when each began; none of it is in the job document."""
    rec = farm_stores(farm.env["MCFARM_REDIS_URL"]).jobs.get(job["JobId"])
    assert "-loglevel" not in json.dumps(job)
    ffmpeg_bin = Settings.from_env(farm.env).ffmpeg_bin
    for index, encoder in ((0, "libx264"), (1, "libx265")):
        argv = shlex.split(rec.ffmpeg[index]["Command"])
        assert argv[0] == ffmpeg_bin and encoder in argv, argv
        # -loglevel error (and x265's log-level=error): a run that succeeds says nothing.
        assert rec.ffmpeg[index]["Log"] == "", rec.ffmpeg[index]
    assert rec.starts.keys() == {0, 1} and rec.part_ffmpeg == {}


def test_output_groups_flv_and_mp3(client, local_farm):
    config = {
        "Inputs": [src("sample.mp4")],
        "OutputGroups": [
            {
                "Name": "files",
                "GroupConfig": {
                    "Type": "File",
                    "OutputFileBase": {"Type": "OSS", "Media": "oss://results/group/"},
                },
                "Outputs": [
                    {
                        "Name": "flv",
                        "TemplateId": "S00000001-000010",
                        "OutputFileName": "a.flv",
                        "OverrideParams": {"Video": {"Width": 256, "Preset": "ultrafast"}},
                    },
                    {
                        "Name": "mp3",
                        "TemplateId": "S00000001-300020",
                        "OutputFileName": "audio/a.mp3",
                    },
                ],
            }
        ],
    }
    job = wait_job(client, client.submit({"Config": config})["JobId"], local_farm)
    assert job["State"] == "Complete", job
    assert job["OutputDetails"] == []
    group = job["OutputGroupDetails"][0]
    assert group["Name"] == "files" and group["Status"] == "Success"
    flv, mp3 = group["Outputs"]
    assert flv["Result"]["OutputFile"]["Media"] == "oss://results/group/a.flv"
    probe = ffprobe(local_path(local_farm, "oss://results/group/a.flv"))
    assert probe["format"]["format_name"] == "flv"
    assert streams(probe, "video")[0]["width"] == 256
    probe = ffprobe(local_path(local_farm, "oss://results/group/audio/a.mp3"))
    assert [s["codec_name"] for s in probe["streams"]] == ["mp3"]
    assert mp3["Result"]["OutFileMeta"]["AudioStreamInfoList"][0]["SampleRate"] == "44100"


def test_states_and_percent_move_while_encoding(client, local_farm):
    """The job is seen Running with a Percent strictly between 0 and 100 (and so the time
    left, EtaSeconds) while it encodes, then Complete at 100: waited for, not sampled (a 10 s clip at preset slow gives FFmpeg's
    progress reports, every PROGRESS_INTERVAL_S, time to show however fast the machine)."""
    config = {
        "Inputs": [src("ten.mp4")],
        "Outputs": [
            out("slow", "S00000001-200020", "oss://results/slow.mp4", Video={"Preset": "slow"})
        ],
    }
    job_id = client.submit({"Config": config})["JobId"]
    seen_states: list[str] = []

    def encoding() -> dict | None:
        job = client.get(job_id)
        if not seen_states or seen_states[-1] != job["State"]:
            seen_states.append(job["State"])
        assert job["State"] not in TERMINAL, f"ended before any progress was seen: {job}"
        return job if 0 < job["Percent"] < 100 else None

    seen = wait_until(encoding, "the job's Percent between 0 and 100")
    assert seen["State"] == "Running" and seen["EtaSeconds"] > 0, seen
    job = wait_job(client, job_id, local_farm)
    assert (job["State"], job["Percent"]) == ("Complete", 100), job
    assert seen_states[0] in ("Inited", "Running") and seen_states[-1] == "Running"


@pytest.mark.parametrize("name", ["notmedia.txt", "truncated.mp4"])
def test_bad_input_ends_in_error_and_farm_goes_on(client, local_farm, name):
    config = {
        "Inputs": [src(name)],
        "Outputs": [out("o", "S00000001-200010", f"oss://results/bad-{name}.mp4")],
    }
    job = wait_job(client, client.submit({"Config": config})["JobId"], local_farm)
    assert job["State"] == "Error"
    assert job["Code"] == "InvalidParameter.ResourceContentBad"
    assert job["Message"]
    assert job["OutputDetails"][0]["Status"] == "Failed"
    good = {
        "Inputs": [src("silent.mp4")],
        "Outputs": [out("ok", "S00000001-200000", f"oss://results/after-{name}.mp4")],
    }
    assert (
        wait_job(client, client.submit({"Config": good})["JobId"], local_farm)["State"]
        == "Complete"
    )


def test_audio_less_source_and_copy_remux(client, local_farm):
    config = {
        "Inputs": [src("silent.mp4")],
        "Outputs": [
            out("copy", "S00000001-200000", "oss://results/copy.mp4"),
            out("enc", "S00000001-200010", "oss://results/silent-enc.mp4", Video={"Width": 160}),
        ],
    }
    job = wait_job(client, client.submit({"Config": config})["JobId"], local_farm)
    assert job["State"] == "Complete", job
    probe = ffprobe(local_path(local_farm, "oss://results/silent-enc.mp4"))
    assert [s["codec_type"] for s in probe["streams"]] == ["video"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"Config": "{not json"}, "InvalidParameter"),
        ({}, "MissingParameter"),
        (
            {
                "Config": {
                    "Inputs": [src("sample.mp4")],
                    "Outputs": [out("o", "S00000009-999999", "oss://results/x.mp4")],
                }
            },
            "InvalidParameter.ResourceNotFound",
        ),
        (
            {
                "Config": {
                    "Inputs": [src("missing.mp4")],
                    "Outputs": [out("o", "S00000001-200010", "oss://results/x.mp4")],
                }
            },
            "InvalidParameter.ResourceNotFound",
        ),
        (
            {
                "Config": {
                    "Inputs": [src("sample.mp4")],
                    "Outputs": [
                        out(
                            "o",
                            "S00000001-200010",
                            "oss://results/x.mp4",
                            Video={"Deinterlace": True},
                        )
                    ],
                }
            },
            "InvalidParameter",
        ),
        (
            {
                "Config": {
                    "Inputs": [src("sample.mp4")],
                    "Outputs": [out("o", "S00000001-100010", "oss://results/x.m3u8")],
                }
            },
            "InvalidParameter",
        ),
        (
            {
                "Config": {
                    "Inputs": [src("sample.mp4")],
                    "Outputs": [out("o", "S00000001-200010", "oss://results/../x.mp4")],
                }
            },
            "InvalidParameter",
        ),
        ({"Config": {"Inputs": [src("sample.mp4")], "Outputs": []}}, "InvalidParameter"),
    ],
    ids=[
        "malformed-json",
        "no-config",
        "unknown-template",
        "missing-input",
        "unsupported-key",
        "hls-later",
        "dotdot",
        "no-outputs",
    ],
)
def test_bad_submits_are_400_with_a_code(client, body, code):
    with pytest.raises(ApiCallFailed) as info:
        client.submit(body)
    assert (info.value.status, info.value.code) == (400, code)
    assert info.value.message


def test_malformed_body_and_auth(local_farm):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        f"{local_farm.api_url}/v1/jobs",
        data=b"{",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req)
    with info.value:
        assert info.value.code == 401
    bad = client_for(local_farm)
    bad.headers["Authorization"] = "Basic " + __import__("base64").b64encode(b"nobody:x").decode()
    with pytest.raises(ApiCallFailed) as err:
        bad.get("0" * 32)
    assert (err.value.status, err.value.code) == (401, "InvalidAccessKeyId.NotFound")
    good = client_for(local_farm)
    with pytest.raises(ApiCallFailed) as err:
        good.call("POST", "/v1/jobs", None)
    assert (err.value.status, err.value.code) == (400, "InvalidParameter")


def test_get_unknown_and_foreign_jobs_are_404(client, local_farm):
    job = client.submit(
        {
            "Config": {
                "Inputs": [src("silent.mp4")],
                "Outputs": [out("o", "S00000001-200000", "oss://results/mine.mp4")],
            }
        }
    )
    other_key, other_secret = local_farm.env["MCFARM_ACCESS_KEYS"].split(",")[1].split(":", 1)
    from cli.client import Client

    other = Client(local_farm.api_url, other_key, other_secret)
    for who, job_id in ((client, "f" * 32), (other, job["JobId"])):
        with pytest.raises(ApiCallFailed) as err:
            who.get(job_id)
        assert (err.value.status, err.value.code) == (404, "ResourceNotFound")


def test_client_token_returns_the_original_job(client):
    config = {
        "Inputs": [src("silent.mp4")],
        "Outputs": [out("o", "S00000001-200000", "oss://results/token.mp4")],
    }
    first = client.submit({"Config": config, "ClientToken": "tok-1"})
    again = client.submit({"Config": config, "ClientToken": "tok-1"})
    assert again["JobId"] == first["JobId"]
    with pytest.raises(ApiCallFailed) as err:
        client.submit({"Config": config, "ClientToken": "tok-1", "UserData": "different"})
    assert err.value.code == "IdempotentParameterMismatch"


def test_list_pages_without_duplicates_or_gaps(local_farm):
    from cli.client import Client

    # A key of its own, so other tests' jobs do not interleave.
    key_id, secret = local_farm.env["MCFARM_ACCESS_KEYS"].split(",")[1].split(":", 1)
    own = Client(local_farm.api_url, key_id, secret)
    config = {
        "Inputs": [src("silent.mp4")],
        "Outputs": [out("o", "S00000001-200000", "oss://results/list.mp4")],
    }
    submitted = [own.submit({"Config": config})["JobId"] for _ in range(7)]
    seen, token = [], ""
    while True:
        page = own.list(page_size=3, next_page_token=token)
        assert len(page["Jobs"]) <= 3
        seen += [j["JobId"] for j in page["Jobs"]]
        token = page["NextPageToken"]
        if not token:
            break
    assert seen == list(reversed(submitted))
    assert "OutputDetails" not in own.list(page_size=1)["Jobs"][0]
    oldest = own.list(page_size=2, order_by="CreateTimeAsc")["Jobs"]
    assert [j["JobId"] for j in oldest] == submitted[:2]
    # The names GET /v1/jobs took before ICE's still work; both names of one are refused.
    old = own.call("GET", "/v1/jobs?page_size=2&order=asc")
    assert [j["JobId"] for j in old["Jobs"]] == submitted[:2]
    for query, field in [
        ("Status=Bogus", "Status"),
        ("NextPageToken=!!!", "NextPageToken"),
        ("PageSize=2&page_size=2", "page_size"),
    ]:
        with pytest.raises(ApiCallFailed) as err:
            own.call("GET", f"/v1/jobs?{query}")
        assert err.value.code == "InvalidParameter" and f'"{field}"' in err.value.message


def test_health_and_openapi(local_farm):
    import urllib.request

    with urllib.request.urlopen(f"{local_farm.api_url}/readyz") as resp:
        assert json.loads(resp.read())["Workers"]
    with urllib.request.urlopen(f"{local_farm.api_url}/v1/openapi.json") as resp:
        doc = json.loads(resp.read())
    assert doc["openapi"].startswith("3.") and "/v1/jobs" in doc["paths"]
    assert "Config" in doc["components"]["schemas"]
