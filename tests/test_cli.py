"""The `repository` command: every subcommand, exit codes, instances side by side, a real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import EXAMPLE, INVALID_SAMPLE, SAMPLES, SEED

from repository.cli import main

RID = "media-2019-06-02-0001"


@pytest.fixture
def cli(tmp_path: Path):
    runner = CliRunner()
    instance = tmp_path / "inst"

    def run(*args: str, code: int = 0):
        result = runner.invoke(main, ["--instance", str(instance), "--user", "tester", *args])
        assert result.exit_code == code, (result.output, result.exception)
        return result

    return run


def test_import_show_history_diff_delete_restore(cli, tmp_path: Path) -> None:
    out = cli("import", str(EXAMPLE)).output
    assert "1 created" in out
    assert "1 unchanged" in cli("import", str(EXAMPLE)).output  # no duplicate
    assert cli("show", RID).output.encode() == EXAMPLE.read_bytes()
    assert "<dc:source>大连晚报, 2019-06-02, A6</dc:source>" in cli("show", RID, "--format", "oai_dc").output
    assert "sets:       media" in cli("show", RID, "--format", "summary").output

    edited = tmp_path / f"{RID}.xml"
    edited.write_bytes(EXAMPLE.read_bytes().replace("老码头".encode(), "新码头".encode()))
    assert "1 updated" in cli("import", str(edited), "--why", "typo").output
    hist = cli("history", RID).output.splitlines()
    assert len(hist) == 2 and "tester" in hist[1] and "typo" in hist[1]
    d = cli("diff", RID, "1", "2").output
    assert "-    <title>老码头的早市</title>" in d and "+    <title>新码头的早市</title>" in d

    assert "deleted" in cli("delete", RID, "--reason", "duplicate").output
    assert "deleted" in cli("show", RID, "--format", "summary").output
    cli("show", RID, "--format", "oai_dc", code=1)
    assert "version 4" in cli("restore", RID).output


def test_refused_input_exits_non_zero_with_file_and_reason(cli) -> None:
    result = cli("import", str(SAMPLES / INVALID_SAMPLE), "--collection", "old-photos", code=1)
    assert f"{INVALID_SAMPLE}:2:" in result.output and "version" in result.output
    assert "0 created" in result.output


def test_validate_files_and_store(cli) -> None:
    assert "1 valid, 0 invalid" in cli("validate", str(EXAMPLE)).output
    cli("validate", str(SAMPLES / INVALID_SAMPLE), code=1)
    cli("import", str(SAMPLES), "--collection", "old-photos", code=1)  # the invalid sample is refused…
    out = cli("validate", "--store").output  # …the 14 valid ones are stored and still valid
    assert "14 valid, 0 invalid" in out


def test_export_folder_and_single_collection(cli, tmp_path: Path) -> None:
    cli("import", str(SAMPLES), "--collection", "old-photos", code=1)
    cli("import", str(EXAMPLE))
    cli("export", str(tmp_path / "out"))
    assert (tmp_path / "out" / "media" / f"{RID}.xml").read_bytes() == EXAMPLE.read_bytes()
    assert len(list((tmp_path / "out" / "old-photos").glob("*.xml"))) == 14
    cli("export", str(tmp_path / "all.xml"), "--single")
    # the single file is itself valid MODS holding every record as stored
    from repository import schemas, xmlio

    doc = xmlio.parse((tmp_path / "all.xml").read_bytes())
    assert schemas.mods_schema().validate(doc) and len(doc.getroot()) == 15


def test_sync_reports_conflicts_with_non_zero_exit(cli, tmp_path: Path) -> None:
    records = tmp_path / "records"
    (records / "media").mkdir(parents=True)
    (records / "media" / f"{RID}.xml").write_bytes(EXAMPLE.read_bytes())
    assert "1 created" in cli("sync", "--records", str(records)).output
    bad = records / "media" / f"{RID}.xml"
    bad.write_bytes(bad.read_bytes().replace(b"<typeOfResource>", b"<typeOfResourc>"))
    result = cli("sync", "--records", str(records), code=1)
    assert f"media/{RID}.xml:" in result.output and "1 refused" in result.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_instances_served_side_by_side(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    procs, ports = [], []
    try:
        for name, source in (("a", EXAMPLE), ("b", SEED)):
            inst = tmp_path / name
            subprocess.run(
                [sys.executable, "-m", "repository", "--instance", str(inst), "import", str(source)],
                check=True,
                env=env,
                capture_output=True,
            )
            port = _free_port()
            ports.append(port)
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "repository",
                        "--instance",
                        str(inst),
                        "serve",
                        "--port",
                        str(port),
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        pages = [_get(f"http://127.0.0.1:{p}/") for p in ports]
        assert "老码头的早市" in pages[0] and "老码头的早市" not in pages[1]
        assert "大连金普新区" in pages[1]
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def _get(url: str, attempts: int = 100) -> str:
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read().decode("utf-8")
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_a_missing_instance_option_value_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["--instance"])
    assert result.exit_code == 2
