"""``fmgw datasets`` over a local folder with the logs' layout, and local mode's bucket and state file as both sides
name them (``fmgw`` does not import ``local``: it would pull in moto and the simulator)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from fmgw.__main__ import app
from fmgw.datasets import sources
from local import environment
from tests.unit.test_datasets import NAMES, fixture, record, write_logs

runner = CliRunner()


def test_local_modes_bucket_and_state_file_agree_with_fmgws(monkeypatch, tmp_path):
    assert sources.LOCAL_LOGS_BUCKET == environment.INVOCATION_LOGS_BUCKET
    assert sources.local_state_file() == environment.STATE_FILE


def test_local_modes_bucket_without_local_mode_says_how_to_start_it(monkeypatch, tmp_path):
    monkeypatch.setenv(sources.STATE_FILE_ENV, str(tmp_path / "absent.json"))
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    args = ["--format", "fine-tuning", "--base-model", "amazon.titan-text-express-v1", "--out", str(tmp_path)]
    result = runner.invoke(app, ["datasets", "build", "--logs", f"s3://{sources.LOCAL_LOGS_BUCKET}/", *args])
    assert result.exit_code == 2 and "FMGW_INVOCATION_LOGS=1 make local" in result.output


def test_build_from_a_folder_writes_the_files_and_the_summary(tmp_path):
    write_logs(tmp_path / "logs", [fixture(name) for name in NAMES] + [record("Mail me at a@example.com", request="x")])
    out = tmp_path / "out"
    result = runner.invoke(app, ["datasets", "build", "--logs", str(tmp_path / "logs" / "AWSLogs"), "--format", "fine-tuning",
                                 "--base-model", "amazon.titan-text-express-v1", "--out", str(out), "--redact",
                                 "--validation", "0.5"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["recordsRead"] == 5 and summary["redactions"] == {"email": 1}
    assert summary["train"] + summary["validation"] == summary["kept"] == 4  # the large body breaks Titan's 4,096
    assert "refused AWSLogs/" in result.output and "4096" in result.output
    assert len((out / "train.jsonl").read_text().splitlines()) == summary["train"]


def test_check_lists_each_broken_record_with_file_and_line_and_exits_1(tmp_path):
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    good.write_text(json.dumps({"prompt": "p", "completion": "c"}) + "\n")
    bad.write_text(json.dumps({"prompt": "p", "completion": "c"}) + "\n" + json.dumps({"input": "x"}) + "\n")
    args = ["--format", "fine-tuning", "--base-model", "amazon.titan-text-express-v1"]
    assert runner.invoke(app, ["datasets", "check", str(good), *args]).exit_code == 0
    result = runner.invoke(app, ["datasets", "check", str(good), str(bad), *args])
    assert result.exit_code == 1 and f"{bad}:2: expected" in result.output
