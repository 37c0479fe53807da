"""Every file of the bad-input corpus (tests/corpus.py) through enroll, verify, identify and scan, run in this
process through the CLI's own entry point with the real model: a correct result or one clear line, never a
traceback, and the database untouched by a failed command."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from facegate import cli

from conftest import snapshot
from corpus import make_corpus

CORPUS_CASES = [case.name for case in make_corpus(Path(tempfile.mkdtemp(prefix="facegate-corpus-names-")))]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus") / "camera roll"
    return {case.name: case for case in make_corpus(folder)}, folder


@pytest.fixture
def facegate_here(capfd, model):
    """Run `facegate ARGS` through cli.main in this process (the session's model is reused): (code, out, err)."""
    cli._LOADED_MODELS[(model.name, None)] = model

    def run(*args):
        with pytest.raises(SystemExit) as stopped:
            cli.main([str(a) for a in args])
        out, err = capfd.readouterr()
        assert "Traceback" not in err and "unexpected error" not in err, err
        return stopped.value.code, out, err

    return run


def assert_one_error_line(code, err, case):
    assert code == 2, (case.name, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facegate: error: "), err
    assert case.path.name.split("\n")[0] in lines[0], lines[0]
    assert not case.words or any(word in lines[0] for word in case.words), lines[0]


@pytest.mark.parametrize("name", CORPUS_CASES, ids=lambda n: n.split("\n")[0])
def test_enroll_verify_identify_each_corpus_file(corpus, name, staff_db, facegate_here):
    case = corpus[0][name]
    before = snapshot(staff_db)

    code, out, err = facegate_here("--db", staff_db, "verify", case.path, "younes", "--json")
    if case.expect in ("error", "noface"):
        assert_one_error_line(code, err, case)
        if case.expect == "noface":
            assert "no face found" in err
    elif case.expect == "younes":
        assert code == 0 and json.loads(out)["match"] is True, (out, err)
    else:
        record = json.loads(out)
        assert code in (0, 1) and record["faces"] >= 29, record

    code, out, err = facegate_here("--db", staff_db, "identify", case.path, "--json")
    if case.expect in ("error", "noface"):
        assert_one_error_line(code, err, case)
    elif case.expect == "younes":
        assert code == 0 and [f["identity"] for f in json.loads(out)["faces"]] == ["younes"], out
    else:
        faces = json.loads(out)["faces"]
        assert code == 1 and len(faces) >= 29 and not any(f["identity"] for f in faces)
    assert snapshot(staff_db) == before

    code, out, err = facegate_here("--db", staff_db, "enroll", "newcomer", case.path)
    if case.expect == "younes":
        assert code == 0 and "1 photo(s) added" in out, err
    else:
        assert_one_error_line(code, err, case)
        assert snapshot(staff_db) == before
        if case.expect == "crowd":
            assert "--largest" in err


def test_scan_of_the_corpus_finishes_and_counts_every_error(corpus, staff_db, facegate_here):
    cases, folder = corpus
    code, out, err = facegate_here("--db", staff_db, "scan", folder, "--json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    reported = {Path(r["path"]).name: r for r in records}
    scanned = {name for name, case in cases.items() if case.scanned}
    assert set(reported) == scanned
    errors = {name for name in scanned if cases[name].expect == "error"}
    assert {name for name, r in reported.items() if r["error"]} == errors
    for name in scanned - errors:
        identities = [f["identity"] for f in reported[name]["faces"]]
        expect = cases[name].expect
        assert (identities == ["younes"] if expect == "younes" else identities == [] if expect == "noface"
                else len(identities) >= 29), (name, identities)
    summary = err.strip().splitlines()[-1]
    assert f"scanned {len(scanned)} image(s)" in summary and f"{len(errors)} error(s)" in summary

    code, out, err = facegate_here("--db", staff_db, "scan", folder)
    assert code == 0 and len(out.splitlines()) == len(scanned)  # the newline in a file name is escaped


def test_an_unreadable_file_is_one_clear_error(staff_db, tmp_path):
    """Permissions: as root every file is readable, so the command runs as 'nobody' there."""
    shared = Path(tempfile.mkdtemp(prefix="facegate-perm-"))
    try:
        os.chmod(shared, 0o755)
        database = shared / "db"
        shutil.copytree(staff_db, database)
        secret = shared / "secret.jpg"
        shutil.copy(Path(__file__).resolve().parents[1] / "images" / "younes.jpg", secret)
        os.chmod(secret, 0)
        for path in [database, *database.iterdir()]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        # Imports first (the interpreter itself may live where 'nobody' cannot read), then drop root.
        drop = "os.setgid(65534); os.setuid(65534); " if os.geteuid() == 0 else ""
        code = "import os, sys, encodings.cp437, facegate.faces.pipeline; from facegate.cli import main; " + drop + "main(sys.argv[1:])"
        for args in (["verify", secret, "younes"], ["identify", secret], ["enroll", "x", secret]):
            result = subprocess.run([sys.executable, "-c", code, "--db", database, *args], capture_output=True,
                                    text=True, timeout=300)
            assert result.returncode == 2, result.stderr
            assert result.stderr.strip() == f"facegate: error: {secret}: permission denied", result.stderr
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_scanning_the_corpus_keeps_memory_bounded(corpus, staff_db):
    """Peak memory of a real `facegate scan` process over the corpus (a 6000x6000 photo, a bomb, a 20000x20000
    header, 30 faces): TensorFlow and the model take ~1 GB; the images must not add more than ~1.5 GB."""
    _, folder = corpus
    code = ("import resource, subprocess, sys; "
            "done = subprocess.run([sys.executable, '-m', 'facegate', '--db', sys.argv[1], 'scan', sys.argv[2]], "
            "capture_output=True); "
            "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    result = subprocess.run([sys.executable, "-c", code, str(staff_db), str(folder)], capture_output=True,
                            text=True, timeout=600)
    status, peak_kb = map(int, result.stdout.split())
    assert status == 0, result.stderr
    assert peak_kb < 2.5 * 1024 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"
