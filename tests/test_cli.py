"""The facegate command, run as a real subprocess on real images: output contract, exit codes, errors."""
import csv
import io
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import DATA, IMAGES, one_error_line, run_facegate, snapshot

NOISE = ("1/1", "━", "oneDNN", "cuda", "absl", "tensorflow", "WARNING", "Traceback")


def assert_quiet(stderr):
    assert not any(word in stderr for word in NOISE), stderr


def test_help_does_not_import_tensorflow():
    code = ("import sys; from facegate.cli import cli; "
            "cli.main(['--help'], standalone_mode=False); cli.main(['verify', '--help'], standalone_mode=False); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for command in ("enroll", "verify", "identify", "scan", "list", "remove"):
        assert command in result.stdout


def test_enroll_verify_identify_the_seed_scenario(tmp_path):
    db = tmp_path / "db"
    enrolled = run_facegate("--db", db, "enroll", "younes", IMAGES / "younes.jpg", IMAGES / "camera_0.jpg")
    assert enrolled.returncode == 0, enrolled.stderr
    assert "2 photo(s) added" in enrolled.stdout
    assert_quiet(enrolled.stderr)
    rgba = run_facegate("--db", db, "enroll", "danielle", IMAGES / "danielle.png")
    assert rgba.returncode == 0 and "danielle: enrolled" in rgba.stdout

    match = run_facegate("--db", db, "verify", IMAGES / "younes.jpg", "younes", "--json")
    assert match.returncode == 0, match.stderr
    assert match.stderr == ""
    record = json.loads(match.stdout)
    assert set(record) == {"path", "identity", "distance", "match", "threshold", "faces"}
    assert record["identity"] == "younes" and record["match"] is True and record["threshold"] == 0.7
    assert record["faces"] == 1
    assert 0 <= record["distance"] < 0.1

    listed = json.loads(run_facegate("--db", db, "list", "--json").stdout)
    assert [p["name"] for p in listed["people"]] == ["danielle", "younes"]
    assert [ph["source"] for ph in listed["people"][1]["photos"]] == ["younes.jpg", "camera_0.jpg"]


def test_verify_no_match_exits_1(staff_db):
    result = run_facegate("--db", staff_db, "verify", IMAGES / "camera_2.jpg", "kian")
    assert result.returncode == 1, result.stderr
    assert "kian" in result.stdout and "NO MATCH" in result.stdout
    assert_quiet(result.stderr)


def test_identify_json_names_the_face(staff_db):
    result = run_facegate("--db", staff_db, "identify", IMAGES / "camera_0.jpg", "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert set(record) == {"path", "faces", "error"} and record["error"] is None
    (face,) = record["faces"]
    assert set(face) == {"box", "confidence", "identity", "distance"}
    assert face["identity"] == "younes" and face["distance"] < 0.7 and len(face["box"]) == 4


def test_identify_group_photo_of_strangers_exits_1(staff_db):
    result = run_facegate("--db", staff_db, "identify", DATA / "bbt" / "bbt1.jpg")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) >= 3 and all("unknown" in line for line in lines)


@pytest.mark.parametrize("make_input, words", [
    (lambda tmp: tmp / "missing.jpg", ["missing.jpg", "no such file"]),
    (lambda tmp: (tmp / "notes.jpg").write_text("hello") and tmp / "notes.jpg", ["notes.jpg", "not an image"]),
    (lambda tmp: DATA / "negatives" / "coffee.png", ["coffee.png", "no face found"]),
])
def test_bad_input_gives_one_line_exit_2_and_leaves_the_database_alone(staff_db, tmp_path, make_input, words):
    image = make_input(tmp_path)
    before = snapshot(staff_db)
    for args in (["verify", image, "younes"], ["enroll", "newcomer", image], ["identify", image]):
        one_error_line(run_facegate("--db", staff_db, *args), *words[:1])
    assert snapshot(staff_db) == before


def test_unknown_name_and_bad_threshold_are_errors(staff_db):
    before = snapshot(staff_db)
    one_error_line(run_facegate("--db", staff_db, "verify", IMAGES / "camera_0.jpg", "Younes"), "'Younes'", "not enrolled")
    one_error_line(run_facegate("--db", staff_db, "remove", "nobody"), "not enrolled")
    one_error_line(run_facegate("--db", staff_db, "threshold", "set", "3"), "threshold")
    assert snapshot(staff_db) == before


def test_several_faces_need_largest_to_enroll(tmp_path):
    db = tmp_path / "db"
    refused = run_facegate("--db", db, "enroll", "crowd", DATA / "bbt" / "bbt1.jpg")
    assert refused.returncode == 2 and "--largest" in refused.stderr
    assert not (db / "facegate.json").exists()
    accepted = run_facegate("--db", db, "enroll", "crowd", "--largest", DATA / "bbt" / "bbt1.jpg")
    assert accepted.returncode == 0, accepted.stderr


def test_verify_decides_on_the_main_face_and_says_so_unless_one_is_required(tmp_path):
    """Howard (the main face of bbt1.jpg) and Sheldon (its largest face) enrolled from their own face crops."""
    db, crowd = tmp_path / "db", DATA / "bbt" / "bbt1.jpg"
    for person in ("howard", "sheldon"):
        assert run_facegate("--db", db, "enroll", person, DATA / "bbt" / person).returncode == 0
    decided = run_facegate("--db", db, "verify", crowd, "howard", "--json")
    assert decided.returncode == 0, decided.stderr
    record = json.loads(decided.stdout)
    assert record["match"] is True and record["faces"] == 5 and record["distance"] == pytest.approx(0.655, abs=1e-3)
    refused = run_facegate("--db", db, "verify", crowd, "sheldon")
    assert refused.returncode == 1, refused.stderr
    assert "sheldon (the main face of 5): distance 1.277" in refused.stdout and "NO MATCH" in refused.stdout
    before = snapshot(db)
    one_error_line(run_facegate("--db", db, "verify", crowd, "howard", "--require-single-face"),
                   "bbt1.jpg", "faces found where one was expected")
    assert snapshot(db) == before


def test_scan_reports_every_image_and_keeps_going(staff_db, tmp_path):
    folder = tmp_path / "camera roll"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(IMAGES / "camera_0.jpg", folder / "camera_0.jpg")
    shutil.copy(IMAGES / "camera_3.jpg", folder / "sub" / "näme with space.jpg")
    shutil.copy(DATA / "negatives" / "rocket.jpg", folder / "rocket.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n junk")
    (folder / "readme.txt").write_text("not scanned")
    result = run_facegate("--db", staff_db, "scan", folder, "--json")
    assert result.returncode == 0, result.stderr
    records = {r["path"].split("/")[-1]: r for r in map(json.loads, result.stdout.splitlines())}
    assert sorted(records) == ["broken.png", "camera_0.jpg", "näme with space.jpg", "rocket.jpg"]
    assert records["camera_0.jpg"]["faces"][0]["identity"] == "younes"
    assert records["näme with space.jpg"]["faces"][0]["identity"] == "bertrand"
    assert records["rocket.jpg"] == {"path": str(folder / "rocket.jpg"), "faces": [], "error": None}
    assert "not an image" in records["broken.png"]["error"]
    assert "4 image(s)" in result.stderr and "1 error(s)" in result.stderr

    table = run_facegate("--db", staff_db, "scan", folder, "--csv")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert table.returncode == 0 and len(rows) == 4
    assert {r["identity"] for r in rows} == {"younes", "bertrand", ""}


def test_scan_prints_each_result_while_it_is_still_scanning(staff_db, tmp_path):
    """The first results are on stdout while the rest of the folder (24 large in-the-wild photos) is scanned."""
    folder = tmp_path / "archive"
    folder.mkdir()
    shutil.copy(IMAGES / "camera_0.jpg", folder / "0000-camera_0.jpg")
    probes = DATA / "celeba-dev" / "probes"
    for photo in sorted(probes.iterdir(), key=lambda p: p.stat().st_size, reverse=True)[:24]:
        shutil.copy(photo, folder / photo.name)
    process = subprocess.Popen([sys.executable, "-m", "facegate", "--db", str(staff_db), "scan", str(folder),
                                "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(process.stdout.readline())
        still_running = process.poll() is None
        rest = process.stdout.read().splitlines()
    finally:
        _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    assert first["path"].endswith("0000-camera_0.jpg") and first["faces"][0]["identity"] == "younes"
    assert still_running, "the first result came only when the scan had ended"
    assert len(rest) == 24


def test_scan_of_a_missing_folder_is_an_error(staff_db, tmp_path):
    one_error_line(run_facegate("--db", staff_db, "scan", tmp_path / "nowhere"), "not a folder")


def test_list_remove_and_threshold_commands(staff_db):
    assert run_facegate("--db", staff_db, "remove", "kian").returncode == 0
    listed = json.loads(run_facegate("--db", staff_db, "list", "--json").stdout)
    assert "kian" not in [p["name"] for p in listed["people"]] and len(listed["people"]) == 11
    assert run_facegate("--db", staff_db, "threshold", "set", "0.9").returncode == 0
    assert run_facegate("--db", staff_db, "threshold").stdout.startswith("0.9000 (stored")
    assert json.loads(run_facegate("--db", staff_db, "list", "--json").stdout)["threshold"] == 0.9


def test_export_import_and_rename_commands(staff_db, tmp_path):
    backup, copy = tmp_path / "staff.facegate", tmp_path / "copy"
    exported = run_facegate("--db", staff_db, "export", backup)
    assert exported.returncode == 0 and "12 people" in exported.stdout, exported.stderr
    assert run_facegate("--db", copy, "import", backup).returncode == 0
    listing = lambda db: json.loads(run_facegate("--db", db, "list", "--json").stdout)
    assert listing(copy) == {**listing(staff_db), "database": str(copy)}

    before = snapshot(copy)
    one_error_line(run_facegate("--db", copy, "import", backup), "not empty", "--replace")
    one_error_line(run_facegate("--db", copy, "rename", "kian", "younes"), "already enrolled")
    one_error_line(run_facegate("--db", copy, "rename", "Kian", "kiann"), "'Kian'", "not enrolled")
    damaged = tmp_path / "damaged.facegate"
    damaged.write_bytes(backup.read_bytes().replace(b'"younes"', b'"yunes"'))
    one_error_line(run_facegate("--db", copy, "import", "--replace", damaged), "damaged.facegate", "sha256")
    assert snapshot(copy) == before

    assert run_facegate("--db", copy, "rename", "kian", "kian m.").returncode == 0
    assert run_facegate("--db", copy, "import", "--merge", backup).returncode == 0
    names = [p["name"] for p in listing(copy)["people"]]
    assert "kian m." in names and "kian" in names and len(names) == 13
    assert run_facegate("--db", copy, "verify", IMAGES / "kian.jpg", "kian m.").returncode == 0


def test_threshold_option_flips_verify_identify_and_scan(staff_db, tmp_path):
    """camera_0 is younes at 0.438: a match at the default 0.7, refused at --threshold 0.4."""
    camera = IMAGES / "camera_0.jpg"
    assert run_facegate("--db", staff_db, "verify", camera, "younes").returncode == 0
    strict = run_facegate("--db", staff_db, "verify", camera, "younes", "--threshold", "0.4", "--json")
    assert strict.returncode == 1 and json.loads(strict.stdout)["threshold"] == 0.4
    assert json.loads(strict.stdout)["match"] is False

    identified = run_facegate("--db", staff_db, "identify", camera, "--threshold", "0.4", "--json")
    assert identified.returncode == 1 and json.loads(identified.stdout)["faces"][0]["identity"] is None
    loose = run_facegate("--db", staff_db, "identify", IMAGES / "camera_4.jpg", "--threshold", "0.75", "--json")
    assert loose.returncode == 0 and json.loads(loose.stdout)["faces"][0]["identity"] == "dan"  # 0.724

    folder = tmp_path / "one"
    folder.mkdir()
    shutil.copy(camera, folder)
    scans = [json.loads(run_facegate("--db", staff_db, "scan", folder, "--json", *extra).stdout)
             for extra in ([], ["--threshold", "0.4"])]
    assert [scan["faces"][0]["identity"] for scan in scans] == ["younes", None]


@pytest.mark.parametrize("value", ["0", "-0.5", "2.5", "nan", "inf"])
def test_an_invalid_threshold_option_is_one_error_line(staff_db, value):
    before = snapshot(staff_db)
    for command in (["verify", IMAGES / "camera_0.jpg", "younes"], ["identify", IMAGES / "camera_0.jpg"]):
        one_error_line(run_facegate("--db", staff_db, *command, "--threshold", value), "threshold")
    assert snapshot(staff_db) == before
    not_a_number = run_facegate("--db", staff_db, "verify", IMAGES / "camera_0.jpg", "younes", "--threshold", "x")
    assert not_a_number.returncode == 2 and "'x' is not a valid float" in not_a_number.stderr


def test_threshold_reset_brings_the_default_back(staff_db):
    assert run_facegate("--db", staff_db, "threshold", "set", "0.4").returncode == 0
    assert run_facegate("--db", staff_db, "verify", IMAGES / "camera_0.jpg", "younes").returncode == 1
    reset = run_facegate("--db", staff_db, "threshold", "reset")
    assert reset.returncode == 0 and "0.7" in reset.stdout
    assert run_facegate("--db", staff_db, "threshold").stdout.strip() == "0.7000 (default)"
    assert run_facegate("--db", staff_db, "verify", IMAGES / "camera_0.jpg", "younes").returncode == 0


def test_import_replace_swaps_the_people(staff_db, tmp_path):
    backup, other = tmp_path / "staff.facegate", tmp_path / "other"
    assert run_facegate("--db", staff_db, "export", backup).returncode == 0
    assert run_facegate("--db", other, "enroll", "stranger", DATA / "bbt" / "penny").returncode == 0
    replaced = run_facegate("--db", other, "import", "--replace", backup)
    assert replaced.returncode == 0 and "12 people" in replaced.stdout, replaced.stderr
    listing = lambda db: json.loads(run_facegate("--db", db, "list", "--json").stdout)  # noqa: E731
    assert listing(other) == {**listing(staff_db), "database": str(other)}
    assert run_facegate("--db", other, "verify", IMAGES / "camera_0.jpg", "younes").returncode == 0


def test_enroll_from_a_folder_takes_the_good_photos_and_names_the_others(tmp_path):
    folder, db = tmp_path / "photos of younes", tmp_path / "db"
    folder.mkdir()
    shutil.copy(IMAGES / "younes.jpg", folder / "1.jpg")
    shutil.copy(IMAGES / "camera_0.jpg", folder / "2.jpg")
    shutil.copy(DATA / "negatives" / "coffee.png", folder / "3.png")
    shutil.copy(DATA / "bbt" / "bbt1.jpg", folder / "4.jpg")
    (folder / "5.jpg").write_text("not a picture")
    result = run_facegate("--db", db, "enroll", "younes", folder)
    assert result.returncode == 0, result.stderr
    assert "2 photo(s) added, 2 enrolled in all" in result.stdout
    refused = sorted(line for line in result.stderr.splitlines() if line.endswith("(not enrolled)"))
    assert len(refused) == 3, result.stderr
    assert "3.png: no face found" in refused[0] and "4.jpg: 5 faces found" in refused[1]
    assert "5.jpg: not an image" in refused[2]
    listed = json.loads(run_facegate("--db", db, "list", "--json").stdout)
    assert [photo["source"] for photo in listed["people"][0]["photos"]] == ["1.jpg", "2.jpg"]


def test_calibrate_from_the_enrolled_people(tmp_path):
    db = tmp_path / "db"
    for name, photos in {"younes": ["younes.jpg", "camera_0.jpg"], "bertrand": ["bertrand.jpg", "camera_3.jpg",
                                                                                 "camera_1.jpg"],
                         "dan": ["dan.jpg", "camera_4.jpg"], "kian": ["kian.jpg"]}.items():
        assert run_facegate("--db", db, "enroll", name, *(IMAGES / p for p in photos)).returncode == 0
    result = run_facegate("--db", db, "calibrate", "--far", "0.05", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    # genuine pairs: younes 1, bertrand 3, dan 1; impostors: every cross-person pair of the 8 photos
    assert summary["people"] == 4 and summary["genuine_pairs"] == 5 and summary["impostor_pairs"] == 23
    assert summary["tar_at_threshold"] == 0.8  # dan's camera_4 at 0.724 is the one refused at 0.7
    assert summary["far_at_recommended"] <= 0.05 and summary["detection_failures"] == 0
    assert run_facegate("--db", db, "threshold").stdout.startswith("0.7000 (default)")  # not saved without --save


CRASHING_COMMAND = """
import sys
from facegate import cli

@cli.cli.command()
def crash():
    raise RuntimeError("something nobody expected")

cli.main(sys.argv[1:])
"""


def test_an_unexpected_error_is_one_line_unless_facegate_debug_asks_for_the_traceback():
    environment = {k: v for k, v in os.environ.items() if k != "FACEGATE_DEBUG"}
    plain = subprocess.run([sys.executable, "-c", CRASHING_COMMAND, "crash"], capture_output=True, text=True,
                           env=environment, timeout=120)
    assert plain.returncode == 2
    assert plain.stderr == ("facegate: unexpected error: RuntimeError: something nobody expected "
                            "(set FACEGATE_DEBUG=1 for details)\n")
    debug = subprocess.run([sys.executable, "-c", CRASHING_COMMAND, "crash"], capture_output=True, text=True,
                           env={**environment, "FACEGATE_DEBUG": "1"}, timeout=120)
    assert debug.returncode != 0
    assert debug.stderr.startswith("Traceback (most recent call last)")
    assert debug.stderr.endswith("RuntimeError: something nobody expected\n")


def test_identify_and_scan_annotate_the_faces_they_name(tmp_path):
    """Howard (enrolled from his face crops) boxed in green in bbt1.jpg, the others in red."""
    from PIL import Image

    db, crowd = tmp_path / "db", DATA / "bbt" / "bbt1.jpg"
    assert run_facegate("--db", db, "enroll", "howard", DATA / "bbt" / "howard").returncode == 0
    identified = run_facegate("--db", db, "identify", crowd, "--json", "--annotate", tmp_path / "out" / "crowd.jpg")
    assert identified.returncode == 0, identified.stderr
    faces = json.loads(identified.stdout)["faces"]
    with Image.open(tmp_path / "out" / "crowd.jpg") as picture, Image.open(crowd) as original:
        assert picture.format == "JPEG" and picture.size == original.size
        picture = picture.convert("RGB")
        for face in faces:
            x, y, w, h = face["box"]
            colour = picture.getpixel((x + w // 2, y + h))  # the bottom edge of the box
            expected = (40, 200, 60) if face["identity"] == "howard" else (230, 50, 40)
            assert max(abs(a - b) for a, b in zip(colour, expected)) < 60, (face, colour)

    folder = tmp_path / "roll"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(crowd, folder / "sub" / "crowd.jpg")
    shutil.copy(DATA / "negatives" / "rocket.jpg", folder / "rocket.jpg")
    scanned = run_facegate("--db", db, "scan", folder, "--annotate", tmp_path / "annotated")
    assert scanned.returncode == 0, scanned.stderr
    assert sorted(p.relative_to(tmp_path / "annotated").as_posix() for p in (tmp_path / "annotated").rglob("*.jpg")) \
        == ["sub/crowd.jpg.jpg"]  # images with faces only


def test_a_badge_photo_cropped_to_the_face_is_enrolled_with_a_border(tmp_path):
    """A celeba-dev photo cut to 10% inside its face box (no forehead, no chin): MTCNN finds nothing in it as it
    is; enroll looks again with a border and enrolls it, and the full photo then verifies (0.243)."""
    from PIL import Image

    import facegate
    from facegate.faces.imaging import load_image

    photo = DATA / "celeba-dev" / "gallery" / "celeb_7345" / "038531.jpg"
    model = facegate.load_model()
    image = load_image(photo)
    x, y, w, h = model.detect(image)[0].box
    badge = tmp_path / "badge.png"
    Image.fromarray(image[int(y + 0.1 * h):int(y + 0.9 * h), int(x + 0.05 * w):int(x + 0.95 * w)]).save(badge)
    assert model.detect(load_image(badge)) == []  # as it is: no face
    db = tmp_path / "db"
    enrolled = run_facegate("--db", db, "enroll", "badge", badge)
    assert enrolled.returncode == 0, enrolled.stderr
    assert run_facegate("--db", db, "verify", photo, "badge").returncode == 0
