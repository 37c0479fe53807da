"""scan --output / --resume: a scan of a real folder killed (SIGKILL) again and again, before any record and after
more and more of them (wherever its writing was), and resumed each time ends with every image in the output exactly
once, with the same faces, identities and distances as a scan that was never interrupted; a half-written last line
is dropped; a file whose content changed since it was scanned is scanned again."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import DATA, run_facegate


def scan_folder(tmp_path):
    folder = tmp_path / "archive"
    (folder / "sub").mkdir(parents=True)
    probes = sorted((DATA / "celeba-dev" / "probes").iterdir())[:40]
    for index, photo in enumerate(probes):
        shutil.copy(photo, (folder / "sub" if index % 3 else folder) / photo.name)
    shutil.copy(DATA / "negatives" / "rocket.jpg", folder / "rocket.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    return folder


def by_path(output):
    """{path: (identities and distances of its faces, error)}; fails on a path written twice or a bad line."""
    if output.suffix == ".csv":
        return csv_by_path(output)
    records = [json.loads(line) for line in output.read_text().splitlines()]
    paths = [r["path"] for r in records]
    assert len(paths) == len(set(paths)), "an image was written twice"
    return {r["path"]: ([(f["identity"], round(f["distance"], 5), f["box"]) for f in r["faces"]], r["error"])
            for r in records}


def csv_by_path(output):
    """The same from a --csv output: each image's rows together, as many as its faces, written once."""
    rows = list(csv.reader(output.open(newline="")))
    assert rows[0][-3:] == ["faces", "size", "mtime_ns"]
    images, order = {}, []
    for row in rows[1:]:
        if not order or order[-1] != row[0]:
            assert row[0] not in images, "an image was written twice"
            order.append(row[0])
        images.setdefault(row[0], []).append(row)
    found = {}
    for path, image_rows in images.items():
        assert len(image_rows) == max(1, int(image_rows[0][10]))
        faces = [(r[7] or None, round(float(r[8]), 4), [int(v) for v in r[2:6]]) for r in image_rows if r[1]]
        found[path] = (faces, image_rows[0][9] or None)
    return found


@pytest.mark.parametrize("kind", [".jsonl", ".csv"])
def test_a_scan_killed_again_and_again_finishes_with_every_image_once(staff_db, tmp_path, kind):
    folder = scan_folder(tmp_path)
    reference = tmp_path / f"reference{kind}"
    options = ["--csv"] if kind == ".csv" else []
    assert run_facegate("--db", staff_db, "scan", folder, "--output", reference, *options).returncode == 0
    expected = by_path(reference)
    assert len(expected) == 42

    output = tmp_path / f"interrupted{kind}"
    command = [sys.executable, "-m", "facegate", "--db", str(staff_db), "scan", str(folder), "--output", str(output),
               "--resume", *options]
    header = kind == ".csv"
    kill_at = (0, 4, 12, 24)  # records in the output: killed before any, then after more and more (mid-write or not)
    for number, records in enumerate(kill_at):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: process.poll() is not None or lines_in(output) - header >= records)
        assert process.poll() is None, "the scan finished before it could be interrupted: make the folder larger"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        if number == 1:
            # a power loss mid-line, and a photo that was scanned replaced by another picture since
            lines = output.read_text().splitlines()
            done = json.loads(lines[0])["path"] if kind == ".jsonl" else next(csv.reader(lines[1:2]))[0]
            with open(output, "a") as handle:
                handle.write('{"path": "' + str(folder / "half") if kind == ".jsonl" else str(folder / "half") + ",1,")
            shutil.copy(DATA / "negatives" / "rocket.jpg", done)
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    assert "already in" in finished.stderr
    assert expected[done][0] and by_path(output)[done] == ([], None)  # scanned again: the rocket has no face
    assert by_path(output) == {**expected, done: ([], None)}


def lines_in(path):
    return path.read_bytes().count(b"\n") if path.exists() else 0


def wait_until(condition, seconds=300):
    """Poll `condition` every 20 ms; fail after `seconds` (a scan that neither writes nor ends)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the scan neither wrote nor ended"
        time.sleep(0.02)


def test_a_csv_image_whose_rows_were_cut_short_is_scanned_again(staff_db, tmp_path):
    folder = tmp_path / "group"
    folder.mkdir()
    shutil.copy(DATA / "bbt" / "bbt1.jpg", folder)
    shutil.copy(DATA / "negatives" / "rocket.jpg", folder)
    output = tmp_path / "out.csv"
    assert run_facegate("--db", staff_db, "scan", folder, "--csv", "--output", output).returncode == 0
    whole = output.read_text()
    lines = whole.splitlines(keepends=True)
    group_rows = [line for line in lines if "bbt1.jpg" in line]
    assert len(group_rows) >= 3  # a group photo: a row per face, each saying how many faces there are
    output.write_text("".join(line for line in lines if line != group_rows[-1]))  # its last row lost
    resumed = run_facegate("--db", staff_db, "scan", folder, "--csv", "--output", output, "--resume")
    assert resumed.returncode == 0 and "(1 already in" in resumed.stderr  # only the rocket was kept
    assert sorted(output.read_text().splitlines()) == sorted(whole.splitlines())


def test_resume_needs_an_output_and_an_existing_output_needs_resume(staff_db, tmp_path):
    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(DATA / "negatives" / "rocket.jpg", folder)
    output = tmp_path / "out.jsonl"
    assert run_facegate("--db", staff_db, "scan", folder, "--output", output).returncode == 0
    again = run_facegate("--db", staff_db, "scan", folder, "--output", output)
    assert again.returncode == 2 and "already exists: add --resume" in again.stderr
    assert run_facegate("--db", staff_db, "scan", folder, "--resume").returncode == 2
