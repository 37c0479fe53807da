"""A person's data on request (GDPR Art. 15 and 17): everything facegate holds about one person, written out with
an index (`facegate subject NAME --export DIR`), or erased (`--erase`): their enrolled embeddings with their
photos' thumbnails, the access-log records that name them (claimed or identified) with the face crops kept with
them, and watch's snapshots of their visits (the files those records name). The embeddings themselves are not
written out (a template that identifies them anywhere); their metadata is. The audit trail keeps that it was
done, by whom (an erasure must be provable), and nothing else of theirs."""
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import FacegateError
from .sealing import opened


@dataclass
class Holdings:
    """What is held about one person."""

    name: str
    enrolled: list = field(default_factory=list)
    """(Entry, thumbnail JPEG or None) of each enrolled embedding."""
    records: list = field(default_factory=list)
    """Their access-log records, newest first."""
    snapshots: list = field(default_factory=list)
    """Paths of the snapshot files their records name that exist."""

    def counts(self):
        return {"embeddings": len(self.enrolled), "thumbnails": sum(1 for _, jpeg in self.enrolled if jpeg),
                "access_log_records": len(self.records),
                "face_crops": sum(1 for record in self.records if record.get("face")),
                "snapshots": len(self.snapshots)}


def held(database, name):
    """The Holdings of `name` in `database` and its access log; FacegateError when nothing is held."""
    from .accesslog import log_of

    store = log_of(database.path)
    enrolled = database.thumbnails(name) if name in database.name_counts() else []
    total = store.newest(0, 1, name=name)[1]
    records = store.newest(0, max(total, 1), name=name)[0] if total else []
    snapshots = sorted({Path(r["snapshot"]) for r in records if r.get("snapshot") and Path(r["snapshot"]).is_file()})
    found = Holdings(name, enrolled, records, snapshots)
    if not any(found.counts().values()):
        raise FacegateError(f"{database.path}: nothing is held about {name!r} (not enrolled, in no access-log record)")
    return found


def export(database, name, target):
    """Write everything held about `name` into the new folder `target`: index.json (what each file is),
    enrollment/, access-log.jsonl, faces/, snapshots/; its counts."""
    from .accesslog import log_of

    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FacegateError(f"{target}: exists and is not an empty folder (an export goes into a new one)")
    found = held(database, name)
    store = log_of(database.path)
    files = []

    def write(relative, data, what):
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files.append({"file": relative, "what": what})

    for number, (entry, jpeg) in enumerate(found.enrolled, start=1):
        if jpeg:
            write(f"enrollment/{number:03d}.jpg", jpeg, f"the face of enrolled photo {entry.source} "
                                                        f"({entry.enrolled_at})")
    lines = []
    for number, record in enumerate(found.records, start=1):
        key = store.face_key(record)
        crop = store.face(key) if key else None
        shown = {k: v for k, v in record.items() if k != "id"}
        if crop:
            shown["face"] = f"faces/{number:05d}.jpg"
            write(shown["face"], crop, f"the face seen at {record.get('door')} at {record.get('time')}")
        if record.get("snapshot") and Path(record["snapshot"]) in found.snapshots:
            shown["snapshot"] = f"snapshots/{Path(record['snapshot']).name}"
            if not (target / shown["snapshot"]).exists():
                picture = opened(Path(record["snapshot"]).read_bytes(), "snapshot", record["snapshot"])
                write(shown["snapshot"], picture,
                      f"the door camera's picture at {record.get('time')}")
        lines.append(json.dumps(shown, ensure_ascii=False))
    if lines:
        write("access-log.jsonl", ("\n".join(lines) + "\n").encode("utf-8"),
              "every access-log record naming them, newest first (one JSON object per line)")
    index = {"person": name, "database": str(database.path), "counts": found.counts(),
             "enrolled": [asdict(entry) for entry, _ in found.enrolled], "files": files,
             "not_included": "the embeddings themselves (face templates that would identify them anywhere)"}
    target.mkdir(parents=True, exist_ok=True)
    (target / "index.json").write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    from .audit import record

    record(database.path, "subject export", name, folder=str(target), **found.counts())
    return found.counts()


def erase(db_path, database, name):
    """Remove everything held about `name`: enrollment (thumbnails with it), access-log records (with their face
    crops), snapshots; its counts (what was removed)."""
    from .accesslog import log_of
    from .audit import record
    from .db import transaction

    found = held(database, name)
    if found.enrolled:
        with transaction(db_path) as current:
            current.remove(name)
    for path in found.snapshots:
        path.unlink(missing_ok=True)
    log_of(database.path).purge(name)
    record(database.path, "subject erase", name, **found.counts())
    return found.counts()
