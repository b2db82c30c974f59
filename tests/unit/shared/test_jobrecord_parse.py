"""shared.jobrecord_parse: a job's hash, canned, into its JobRecord."""

from __future__ import annotations

import json

from shared.jobrecord_parse import LIST_FIELDS, listed_record, new_job, record_from_hash
from shared.jobview import job_document
from tests.unit.specs import hls_group
from tests.unit.specs import output_spec as spec


def job_hash(**fields: str) -> dict[str, str]:
    """The fields every job's hash has (two outputs), plus ``fields``."""
    return {
        "owner": "acme",
        "doc": json.dumps({"Config": {"Outputs": []}}),
        "specs": json.dumps([spec(0).to_dict(), spec(1).to_dict()]),
        "create_us": "1000000",
        "state": "Running",
        "run_us": "2000000",
        **fields,
    }


def run(command: str, log: str) -> str:
    return json.dumps({"Command": command, "Log": log})


def test_no_hash_or_no_doc_is_no_job():
    assert record_from_hash("j", {}) is None
    assert record_from_hash("j", {"owner": "acme", "state": "Running"}) is None


def test_a_whole_outputs_and_a_parts_ffmpeg_runs_and_the_starts_are_read_apart():
    raw = job_hash(
        **{
            "out:0": json.dumps({"Status": "Running"}),
            "pct:0": "40",
            "start:0": json.dumps({"us": 3_000_000, "worker": "cpu-1@h"}),
            "ffmpeg:0": run("ffmpeg -i in.mp4 -c:v libx264 out.mp4", "frame=10"),
            "ffmpeg:1:c0": run("ffmpeg -ss 0 -i in.mp4 c0.nut", "c0 done"),
            "ffmpeg:1:join": run("ffmpeg -f concat -i chunks.txt out.mp4", ""),
            "pct:1:c0": "7",
            "part:1:c0": json.dumps({"Status": "Success"}),
            "deliveries:0": "1",
            "flag:started": "123",
        }
    )
    rec = record_from_hash("j", raw)
    assert rec is not None
    assert rec.ffmpeg == {
        0: {"Command": "ffmpeg -i in.mp4 -c:v libx264 out.mp4", "Log": "frame=10"}
    }
    assert rec.part_ffmpeg == {
        1: {
            "c0": {"Command": "ffmpeg -ss 0 -i in.mp4 c0.nut", "Log": "c0 done"},
            "join": {"Command": "ffmpeg -f concat -i chunks.txt out.mp4", "Log": ""},
        }
    }
    assert rec.starts == {0: {"us": 3_000_000, "worker": "cpu-1@h"}}
    assert rec.progress == {0: 40} and rec.part_progress == {1: {"c0": 7}}
    assert rec.parts == {1: {"c0": {"Status": "Success"}}}
    assert (rec.run_us, rec.create_us, rec.finish_us) == (2_000_000, 1_000_000, None)
    assert [s.index for s in rec.specs] == [0, 1]


def test_a_job_without_runs_has_empty_ones():
    rec = record_from_hash("j", job_hash())
    assert rec is not None
    assert (rec.ffmpeg, rec.part_ffmpeg, rec.starts) == ({}, {}, {})


def test_the_runs_and_starts_stay_out_of_the_wire_document():
    raw = job_hash(
        **{
            "out:0": json.dumps({"Status": "Running", "Name": "o0"}),
            "out:1": json.dumps({"Status": "Init", "Name": "o1"}),
            "start:0": json.dumps({"us": 3_000_000, "worker": "cpu-1@h"}),
            "ffmpeg:0": run("ffmpeg -i secret-looking-command", "a log line"),
            "ffmpeg:1:c0": run("ffmpeg chunk", "chunk log"),
        }
    )
    rec = record_from_hash("j", raw)
    assert rec is not None
    for detail in (True, False):
        text = json.dumps(job_document(rec, detail=detail, now_us=4_000_000))
        assert "ffmpeg" not in text and "log" not in text and "cpu-1@h" not in text


def test_a_listed_job_reads_its_list_fields_only():
    values = [
        "acme",
        json.dumps({"Config": {"Outputs": []}, "UserData": "u"}),
        "1000000",
        "Complete",
        None,
        None,
        "3000000",
        "2000000",
    ]
    rec = listed_record("j", values)
    assert (rec.job_id, rec.owner, rec.state, rec.create_us) == ("j", "acme", "Complete", 1_000_000)
    assert (rec.code, rec.message, rec.finish_us, rec.run_us) == ("", "", 3_000_000, 2_000_000)
    assert rec.doc["UserData"] == "u" and rec.specs == [] and rec.outputs == {}
    doc = job_document(rec, detail=False, now_us=4_000_000)
    assert doc["State"] == "Complete" and doc["FinishTime"] and "EtaSeconds" not in doc


def test_a_listed_job_that_is_gone_is_none():
    assert listed_record("j", [None] * len(LIST_FIELDS)) is None


def test_a_listed_job_and_its_whole_record_show_the_same_list_document():
    raw = job_hash(state="Error", code="InvalidParameter", message="bad", finish_us="5000000")
    whole = record_from_hash("j", raw)
    listed = listed_record("j", [raw.get(name) for name in LIST_FIELDS])
    assert job_document(listed, detail=False, now_us=9) == job_document(
        whole, detail=False, now_us=9
    )


def test_a_new_jobs_record_is_what_its_hash_reads_back_as():
    group = hls_group("oss://out/pkg/")
    doc = {"Config": {"Outputs": [], "Nested": {"k": [1, 2.5, None]}}, "UserData": "u"}
    fields, record = new_job("j1", "acme", doc, [spec(0), spec(1)], [group], "fp", 1_000_000)
    assert record == record_from_hash("j1", {name: str(value) for name, value in fields.items()})
    assert (record.state, record.create_us, record.group_states) == (
        "Inited",
        1_000_000,
        {0: {"Status": "Init"}},
    )
    assert [o["TaskId"] for o in record.outputs.values()] == ["j1-0", "j1-1"]
    assert fields["fingerprint"] == "fp" and "run_us" not in fields
    doc["UserData"] = "changed after"  # the record keeps its own document
    assert record.doc["UserData"] == "u"
