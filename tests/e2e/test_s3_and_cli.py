"""The same jobs against a real S3 server (SeaweedFS), and the CLI example end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from cli.up import seed_examples
from shared.config import Settings
from shared.examples import EXAMPLE_BUCKET, EXAMPLES_DIR
from tests.e2e.conftest import MEDIA_BUCKET, client_for, wait_job
from tests.e2e.test_jobs import ffprobe, streams

pytestmark = pytest.mark.e2e


def test_job_reads_and_writes_s3(s3_farm, seaweed, tmp_path):
    client = client_for(s3_farm)
    config = {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/sample.mp4"}}],
        "Outputs": [
            {
                "Name": "a",
                "TemplateId": "S00000001-200010",
                "OutputFile": {"Media": "s3://results/s3/a.mp4"},
                "OverrideParams": {"Video": {"Width": 320, "Preset": "ultrafast"}},
            },
            {
                "Name": "b",
                "TemplateId": "S00000001-300010",
                "OutputFile": {"Media": "oss://results/s3/b.mp3"},
            },
        ],
    }
    boto3.client(
        "s3",
        endpoint_url=seaweed.endpoint,
        aws_access_key_id=seaweed.access_key,
        aws_secret_access_key=seaweed.secret_key,
        region_name=seaweed.region,
    ).create_bucket(Bucket="results")
    job = wait_job(client, client.submit({"Config": config})["JobId"], s3_farm)
    assert job["State"] == "Complete", job
    s3 = boto3.client(
        "s3",
        endpoint_url=seaweed.endpoint,
        aws_access_key_id=seaweed.access_key,
        aws_secret_access_key=seaweed.secret_key,
        region_name=seaweed.region,
    )
    s3.download_file("results", "s3/a.mp4", str(tmp_path / "a.mp4"))
    s3.download_file("results", "s3/b.mp3", str(tmp_path / "b.mp3"))
    assert streams(ffprobe(tmp_path / "a.mp4"), "video")[0]["width"] == 320
    assert [s["codec_name"] for s in ffprobe(tmp_path / "b.mp3")["streams"]] == ["mp3"]
    detail = job["OutputDetails"][0]
    assert detail["Result"]["OutputFile"]["Url"].startswith(seaweed.endpoint)
    assert detail["Result"]["OutFileMeta"]["FileBasicInfo"]["FileSize"] == str(
        (tmp_path / "a.mp4").stat().st_size
    )
    # Nothing of the job landed on local disk.
    assert not (Path(s3_farm.env["MCFARM_STORAGE_ROOT"]) / "results").exists()


def test_missing_s3_input_is_refused_at_submit(s3_farm):
    from cli.client import ApiCallFailed

    config = {
        "Inputs": [{"InputFile": {"Type": "OSS", "Media": f"oss://{MEDIA_BUCKET}/nope.mp4"}}],
        "Outputs": [
            {"TemplateId": "S00000001-200010", "OutputFile": {"Media": "oss://results/s3/nope.mp4"}}
        ],
    }
    with pytest.raises(ApiCallFailed) as err:
        client_for(s3_farm).submit({"Config": config})
    assert (err.value.status, err.value.code) == (400, "InvalidParameter.ResourceNotFound")


def _mcfarm(farm, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``mcfarm ARGV`` against ``farm``, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *argv],
        env=farm.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_submit_example_waits_to_complete(local_farm):
    assert seed_examples(Settings.from_env(local_farm.env)) >= 1
    example = str(EXAMPLES_DIR / "mp4-ladder.json")
    proc = _mcfarm(local_farm, "submit", example, "--wait", "--timeout", "120", timeout=180)
    assert proc.returncode == 0, proc.stderr
    job = json.loads(proc.stdout)
    assert job["State"] == "Complete"
    assert "100%" in proc.stderr  # the progress bar reached the end
    details = job["OutputDetails"]
    assert [d["Status"] for d in details] == ["Success", "Success"]
    root = Path(local_farm.env["MCFARM_STORAGE_ROOT"]) / EXAMPLE_BUCKET / "out"
    for detail, width in zip(details, (848, 640), strict=True):
        assert detail["Result"]["OutFileMeta"]["FileBasicInfo"]["Width"] == str(width)
        name = detail["Result"]["OutputFile"]["Media"].rsplit("/", 1)[1]
        assert streams(ffprobe(root / name), "video")[0]["width"] == width
    # mcfarm list speaks ListMediaConvertJobs' names: Status, PageSize, OrderBy.
    listed = _mcfarm(local_farm, "list", "--status", "Complete", "--page-size", "100", "--json")
    assert listed.returncode == 0, listed.stderr
    assert job["JobId"] in [j["JobId"] for j in json.loads(listed.stdout)["Jobs"]]
    newest = _mcfarm(local_farm, "list", "--page-size", "1", "--order-by", "CreateTimeDesc")
    assert newest.returncode == 0 and newest.stdout.startswith(job["JobId"]), newest.stderr


def test_cli_reports_user_errors_without_traceback(local_farm, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    for argv in (
        ["submit", str(bad)],
        ["submit", str(tmp_path / "absent.json")],
        ["get", "f" * 32],
        ["list", "--status", "Bogus"],
    ):
        proc = _mcfarm(local_farm, *argv)
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr and proc.stderr.startswith("mcfarm")
