"""Bulk import: the seed and records/, idempotence, and a run killed half-way."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SEED

from repository import importer, workingcopy
from repository.service import Repository


def test_the_seed_becomes_a_valid_article_with_its_full_text(repo) -> None:
    report = importer.import_paths(repo, [SEED])
    assert not report.failed and len(report.created) == 1
    rid = report.created[0]
    assert rid.startswith("media-2023-03-09-")
    state = repo.store.get(rid)
    assert (state.newspaper, state.date_issued, state.collection) == ("辽宁日报", "2023-03-09", "media")
    assert state.title.startswith("大连金普新区抓项目优环境促开放确保首战告捷")
    v = repo.store.version(rid)
    assert v.fulltext.startswith("聚力新突破") and v.fulltext.endswith("快马加鞭!")
    assert "版权所有" not in v.fulltext and "地方文献导航" not in v.fulltext
    assert "<dc:creator>吕丽</dc:creator>" in repo.store.rendering(rid, "oai_dc").decode()


def test_importing_the_same_page_twice_makes_no_duplicate(repo) -> None:
    first = importer.import_paths(repo, [SEED])
    second = importer.import_paths(repo, [SEED, SEED])
    assert second.unchanged == first.created * 2 and not second.created and not second.updated
    assert repo.store.count() == 1 and len(repo.store.history(first.created[0])) == 1


def test_the_shipped_records_hold_the_seed_first_and_load_cleanly(tmp_path: Path) -> None:
    repo = Repository(tmp_path / "inst", base_url="http://127.0.0.1:5000")  # the URL records/ was made with
    records = ROOT / "records"
    files = sorted((records / "media").glob("*.xml"))
    assert files, "records/ ships the seed"
    report = workingcopy.sync(repo, records)
    assert not report.failed and len(report.created) == len(files)
    # the shipped file is exactly what importing the seed gives: re-importing changes nothing
    assert importer.import_paths(repo, [SEED]).unchanged == [files[0].stem]


def test_refused_pages_name_the_file(repo, tmp_path: Path) -> None:
    page = tmp_path / "broken.txt"
    page.write_text("这不是一个页面\n", encoding="utf-8")
    report = importer.import_paths(repo, [page])
    assert report.failed and report.problems[0].source == str(page)
    assert repo.store.count() == 0


def test_control_characters_in_a_page_or_a_full_text_file_are_dropped_not_fatal(repo, tmp_path: Path) -> None:
    """A NUL or another control in a page's body (a bad OCR or a copy from a binary file) would
    fail the commit on PostgreSQL and could never be served in XML: it is dropped, as an edit drops it."""
    page = tmp_path / "page.txt"
    text = SEED.read_text(encoding="utf-8").replace("聚力新突破", "聚力\x00新\x0b突破", 1)
    page.write_text(text, encoding="utf-8")
    report = importer.import_paths(repo, [page])
    assert not report.failed and len(report.created) == 1
    rid = report.created[0]
    assert repo.store.version(rid).fulltext.startswith("聚力新突破")

    copy = tmp_path / "copy"
    workingcopy.sync(repo, copy)
    txt = copy / "media" / f"{rid}.txt"
    txt.write_text("第一段\x00。\ufffe", encoding="utf-8")
    report = workingcopy.sync(repo, copy)
    assert report.updated == [rid] and not report.failed
    assert repo.store.version(rid).fulltext == "第一段。"
    assert repo.store.get(rid).version == 2
    os.utime(txt, (time.time() + 5, time.time() + 5))  # touched, not changed: no new version
    report = workingcopy.sync(repo, copy)
    assert not report.updated and repo.store.get(rid).version == 2


def _pages(folder: Path, n: int) -> None:
    text = SEED.read_text(encoding="utf-8")
    folder.mkdir()
    for i in range(n):
        (folder / f"page-{i:04d}.txt").write_text(
            text.replace("真抓实干谋发展", f"真抓实干谋发展{i}"), encoding="utf-8"
        )


def test_an_import_stopped_by_a_crash_finishes_on_rerun(repo, tmp_path: Path, monkeypatch) -> None:
    _pages(tmp_path / "pages", 7)
    monkeypatch.setattr(importer, "BATCH", 3)
    real_commit = repo.commit
    calls = {"n": 0}

    def crash_on_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated crash")
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(repo, "commit", crash_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        importer.import_paths(repo, [tmp_path / "pages"])
    assert repo.store.count() == 3  # the first batch, whole; nothing of the second
    monkeypatch.setattr(repo, "commit", real_commit)
    report = importer.import_paths(repo, [tmp_path / "pages"])
    assert len(report.created) == 4 and len(report.unchanged) == 3
    assert repo.store.count() == 7


def test_an_import_killed_with_sigkill_leaves_whole_records_and_reruns_cleanly(tmp_path: Path) -> None:
    _pages(tmp_path / "pages", 600)
    instance = tmp_path / "inst"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "repository", "--instance", str(instance), "import", str(tmp_path / "pages")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = instance / "repository.sqlite3"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        # kill once at least one batch is in, while the run is still going
        if db.exists():
            repo = Repository(instance)
            n = repo.store.count()
            repo.close()
            if n >= 1:
                break
        time.sleep(0.05)
    killed = proc.poll() is None
    if killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    repo = Repository(instance)
    try:
        partial = repo.store.count()
        if killed:
            assert partial < 600
        for state in repo.store.records():  # every record in is whole: version, rendering, set
            assert repo.store.rendering(state.id, "oai_dc") is not None
            assert repo.store.sets_of(state.id) == ["media", "media:liaoningribao"]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert f"{600 - partial} created" in done.stdout
        assert repo.store.count() == 600
        assert all(len(repo.store.history(s.id)) == 1 for s in repo.store.records())
    finally:
        repo.close()


def test_parallel_import_gives_the_same_store_as_a_serial_one(tmp_path: Path) -> None:
    from conftest import SAMPLES

    results = []
    for workers in (0, 2):
        repo = Repository(tmp_path / f"w{workers}", base_url="http://repo.test")
        report = importer.import_paths(repo, [SAMPLES, SEED], collection="old-photos", workers=workers)
        results.append(
            (
                sorted(report.created),
                sorted((p.source, p.line, p.rule) for p in report.problems),
                sorted((s.id, s.digest, repo.store.rendering(s.id, "oai_dc")) for s in repo.store.records()),
            )
        )
        repo.close()
    assert results[0] == results[1] and len(results[0][0]) == 15  # 14 valid samples and the seed


def test_inputs_are_walked_in_path_order_skipping_hidden_ones(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "z").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for rel in [
        "b/2.txt",
        "b/1.txt",
        "a/z/3.txt",
        "a/0.TXT",
        "a/x.xml",
        "a/y.html",
        ".hidden/h.txt",
        "top.txt",
    ]:
        (tmp_path / rel).write_text("x", "utf-8")
    explicit = tmp_path / "a" / "x.xml"
    found = list(importer.iter_inputs([tmp_path, explicit]))
    rel = [p.relative_to(tmp_path).as_posix() for p in found]
    assert rel == ["a/0.TXT", "a/x.xml", "a/z/3.txt", "b/1.txt", "b/2.txt", "top.txt", "a/x.xml"]


def test_a_missing_input_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(importer.iter_inputs([tmp_path / "nope"]))
