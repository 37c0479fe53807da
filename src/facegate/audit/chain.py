"""The hash chain: each record carries its sequence number, the hash of the record before it and its own hash
(SHA-256 of its canonical JSON without the hash), so that an edited record no longer matches its hash, and an
inserted or removed one breaks the sequence and the chain after it."""
import hashlib
import json

GENESIS = "0" * 64
"""The `previous` of a trail's first record."""


def digest(record):
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def seal(records, head):
    """`records` (dicts without seq, previous, hash) sealed after `head` ((seq, hash) of the last record, or None
    for an empty trail), in order."""
    seq, previous = head if head is not None else (0, GENESIS)
    sealed = []
    for record in records:
        seq += 1
        record = {**record, "seq": seq, "previous": previous}
        record["hash"] = previous = digest(record)
        sealed.append(record)
    return sealed


def check(records):
    """(records found intact, the first problem or None) of a whole trail in order: each record must be the
    next number, name the hash of the one before and match its own hash."""
    seq, previous = 0, GENESIS
    for position, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            return position - 1, f"record {position} of the trail is not a record"
        if record.get("seq") != seq + 1:
            return position - 1, (f"record {position} of the trail is number {record.get('seq')!r}, where "
                                  f"{seq + 1} was due: a record was removed or inserted")
        if record.get("previous") != previous:
            return position - 1, f"record {seq + 1} does not follow the one before (a record before it was changed)"
        if record.get("hash") != digest(record):
            return position - 1, f"record {seq + 1} was altered (it no longer matches its hash)"
        seq, previous = record["seq"], record["hash"]
    return seq, None
