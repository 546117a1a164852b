"""Messages, attachments and evidence on the real stores (SQLite and PostgreSQL).

Given a case, when a party writes, attaches, submits evidence or the platform
rules citing it, then the events say so, the blob store holds each file once
under its sha256, ``verify`` checks the files, and an export bundle carries
them. Bad input is refused with one line and writes nothing: no event, no blob.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest

from aftersales_es.audit import blobs as audit_blobs
from aftersales_es.audit.chain import verify
from aftersales_es.audit.export import ExportError, export_lines, replay
from aftersales_es.audit.history import history
from aftersales_es.domain.errors import InvalidInputError, NotAllowedError
from aftersales_es.engine import AfterSales

from .evidence_files import EXE, PDF, files, png
from .helpers import order, refused, t

KS = {"category": "other", "buyer_contacted": True}


def given_dispute(app: AfterSales) -> None:
    """Given: a Kuaishou return applied with a photo, rejected and escalated (KS-3, KS-8)."""
    order(app)
    photo = files(("lid.png", png("C1")))
    app.execute("apply", case="C1", order="O1", at=t(days=3), kind="return_refund",
                reason="quality_issue", note="cracked lid", **photo)  # fmt: skip
    app.execute("reject", case="C1", at=t(days=3, hours=2), reason="used", **KS)
    app.execute("escalate", case="C1", at=t(days=3, hours=3), by="buyer")


def stored(app: AfterSales) -> list[str]:
    return [digest for digest, _ in app.blobs.digests()]


def test_message_keeps_state_and_deadlines_and_joins_history(app: AfterSales) -> None:
    order(app)
    case = app.execute("apply", case="C1", order="O1", at=t(days=3), kind="refund_only")
    before = (case.state, case.pending_deadlines)
    # when: the seller writes
    case = app.execute("message", case="C1", at=t(days=3, hours=1), by="seller", text="Why?")
    # then: a MessagePosted event, same state, same deadline (KS-1 still runs)
    assert (case.state, case.pending_deadlines) == before
    row = history(app, "C1")["timeline"][-1]
    assert (row["event"], row["by"], row["state_before"], row["state_after"]) == (
        "MessagePosted", "seller", "requested", "requested",
    )  # fmt: skip
    assert row["detail"] == {"by": "seller", "text": "Why?"}
    assert verify(app).findings == []  # chained like every event


def test_attachment_is_stored_once_by_digest_and_listed_as_evidence(app: AfterSales) -> None:
    given_dispute(app)
    photo = png("C1")
    digest = hashlib.sha256(photo).hexdigest()
    # when: the buyer attaches the same photo again, and the courier's report as evidence
    app.execute("message", case="C1", at=t(days=3, hours=4), by="buyer",
                **files(("again.png", photo)))  # fmt: skip
    case = app.execute("submit_evidence", case="C1", at=t(days=3, hours=5), by="buyer",
                       note="courier report", **files(("report.pdf", PDF)))  # fmt: skip
    # then: one blob per content, every citation kept, evidence items numbered in order
    assert app.blobs.get(digest) == photo
    assert sorted(stored(app)) == sorted([digest, hashlib.sha256(PDF).hexdigest()])
    assert [(a["name"], a["media_type"], a["size"]) for a in case.attachments] == [
        ("lid.png", "image/png", len(photo)),
        ("again.png", "image/png", len(photo)),
        ("report.pdf", "application/pdf", len(PDF)),
    ]
    assert [(e["id"], e["by"], e["kind"]) for e in case.evidence] == [
        ("E1", "buyer", "message"), ("E2", "buyer", "message"), ("E3", "buyer", "evidence"),
    ]  # fmt: skip
    assert audit_blobs.check(app) == []


def test_ruling_records_the_evidence_it_considered_ks8(app: AfterSales) -> None:
    given_dispute(app)
    app.execute("submit_evidence", case="C1", at=t(days=3, hours=5), by="seller", note="QC ok")
    # when: the platform rules citing E1 (the photo) and E2 (the seller's note)
    case = app.execute("rule", case="C1", at=t(days=4), in_favour_of="buyer",
                       evidence="E1,E2", reasoning="the photo shows the crack")  # fmt: skip
    ruling = next(e for e in app.case_events("C1") if type(e).__name__ == "Arbitrated")
    assert (list(ruling.evidence), ruling.reasoning) == (["E1", "E2"], "the photo shows the crack")
    assert case.ruling is not None and case.ruling["evidence"] == ["E1", "E2"]


def test_ruling_citing_unknown_evidence_is_refused_listing_the_items_ks8(app: AfterSales) -> None:
    given_dispute(app)
    with refused(app, NotAllowedError, "KS-8", "no evidence E7", "evidence: E1"):
        app.execute("rule", case="C1", at=t(days=4), in_favour_of="buyer", evidence="E1,E7")


@pytest.mark.parametrize(
    ("what", "name", "data", "settings", "words"),
    [
        ("oversized", "big.png", png("x") + b"\x00" * 2000, {"attachment_max_bytes": 1000},
         ("KS-A4", "above 1000")),
        ("empty", "nothing.png", b"", {}, ("KS-A4", "empty (0 bytes)")),
        ("disguised", "photo.jpg", EXE, {}, ("KS-A4", "application/octet-stream", "allowed:")),
        ("per case", "one-too-many.png", png("y"), {"attachments_per_case": 1},
         ("KS-A4", "at most 1 attachments")),
    ],
)  # fmt: skip
def test_bad_file_is_refused_with_nothing_written_and_no_blob(
    store: str, what: str, name: str, data: bytes, settings: dict[str, int], words: tuple[str, ...]
) -> None:
    app = AfterSales(store, settings=settings)
    try:
        given_dispute(app) if what == "per case" else order(app)
        before = stored(app)
        if what != "per case":
            app.execute("apply", case="C1", order="O1", at=t(days=3), kind="refund_only")
        with refused(app, NotAllowedError, *words):
            app.execute("message", case="C1", at=t(days=4), by="buyer", **files((name, data)))
        assert stored(app) == before  # no orphan blob
    finally:
        app.close()


@pytest.mark.parametrize(
    ("fields", "error", "words"),
    [
        ({"text": "x" * 1_000_000}, InvalidInputError, ("text", "at most 65536")),
        ({"text": "x" * 2001}, NotAllowedError, ("KS-A4", "at most 2000 characters")),
        ({"text": "ring the bell\x07"}, InvalidInputError, ("text", "U+0007")),
        ({"text": "   "}, NotAllowedError, ("says something",)),
        ({"by": "system", "text": "hi"}, InvalidInputError, ("by",)),
    ],
)
def test_bad_message_is_refused_with_one_line_writing_nothing(
    app: AfterSales, fields: dict[str, str], error: type[Exception], words: tuple[str, ...]
) -> None:
    order(app)
    app.execute("apply", case="C1", order="O1", at=t(days=3), kind="refund_only")
    with refused(app, error, *words):  # type: ignore[arg-type]
        app.execute("message", case="C1", at=t(days=4), **{"by": "buyer", **fields})


@pytest.mark.parametrize("name", ["../../x.png", "a/b.png", "..", "evil\x1b[31m.png", ".hidden"])
def test_path_traversal_or_control_names_are_refused_before_any_write(
    app: AfterSales, name: str
) -> None:
    order(app)
    app.execute("apply", case="C1", order="O1", at=t(days=3), kind="refund_only")
    with refused(app, InvalidInputError, "attachment"):
        app.execute("message", case="C1", at=t(days=4), by="buyer", **files((name, png())))
    assert stored(app) == []


def test_a_reference_to_another_cases_file_without_its_bytes_is_refused(app: AfterSales) -> None:
    given_dispute(app)
    ref = app.get_case("C1").attachments[0]
    order(app, "O2")
    app.execute("apply", case="C2", order="O2", at=t(days=3), kind="refund_only")
    cited = {k: ref[k] for k in ("digest", "size", "media_type", "name")}
    with refused(app, InvalidInputError, "not a file of case C2", "send the file itself"):
        app.execute("message", case="C2", at=t(days=4), by="buyer", attachments=[cited])
    # the case that holds it may cite it again, without sending it
    app.execute("submit_evidence", case="C1", at=t(days=4), by="buyer", note="see E1",
                attachments=[cited])  # fmt: skip


def test_verify_reports_a_missing_an_altered_and_an_unreferenced_blob(app: AfterSales) -> None:
    given_dispute(app)
    digest = app.get_case("C1").attachments[0]["digest"]
    app.blobs.delete(digest)
    assert [f.problem for f in audit_blobs.check(app)] == ["blob_missing"]
    app.blobs.put(digest, png("someone else's photo"))  # bytes that are not the digest's
    assert [f.problem for f in audit_blobs.check(app, ["C1"])] == ["blob_altered"]
    app.blobs.delete(digest)
    app.blobs.put(digest, png("C1"))
    # a crash between the blob and its event leaves a blob nobody cites
    orphan = hashlib.sha256(PDF).hexdigest()
    app.blobs.put(orphan, PDF)
    found = audit_blobs.check(app)
    assert [(f.problem, f.aggregate) for f in found] == [
        ("blob_unreferenced", f"blob {orphan[:12]}")
    ]
    # gc spares a fresh one (a command may be saving it), removes it once old
    assert audit_blobs.collect(app, timedelta(hours=1)) == []
    later = max(w for _, w in app.blobs.digests()) + timedelta(hours=2)
    assert audit_blobs.collect(app, timedelta(hours=1), now=later) == [orphan]
    assert audit_blobs.check(app) == []


def test_export_bundle_carries_the_files_and_replay_checks_them(app: AfterSales) -> None:
    given_dispute(app)
    lines = list(export_lines(app, ["C1"], attachments=True))
    (rebuilt,) = replay(lines)
    assert rebuilt.blobs == {hashlib.sha256(png("C1")).hexdigest(): png("C1")}
    tampered = [ln.replace('"data":"iVBOR', '"data":"iVBOQ') for ln in lines]
    with pytest.raises(ExportError, match="its bytes do not match"):
        replay(tampered)
    # a bundle whose only blob is another file: the case's photo is missing
    other = {"type": "blob", "case_id": "C1", "digest": hashlib.sha256(PDF).hexdigest(),
             "data": base64.b64encode(PDF).decode()}  # fmt: skip
    swapped = [ln for ln in lines if '"type":"blob"' not in ln] + [json.dumps(other)]
    with pytest.raises(ExportError, match=r"lid\.png.*not in the bundle"):
        replay(swapped)
