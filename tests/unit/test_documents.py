"""Files from requests: what they are, their text (PDFs through pypdf), and how they are saved
in the workspace (hostile names neutralised, nothing overwritten, no symlink followed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hermes.errors import HermesError, InvalidRequest, UnsupportedFileType
from hermes.gateway.attachments import describe
from hermes.gateway.documents import PDF, Extracted, extract_text, media_type
from hermes.gateway.uploads import candidates, safe_name, save
from tests.media import JPEG, PNG, pdf


def test_a_pdf_is_read_page_by_page_within_the_page_limit() -> None:
    data = pdf("Quarterly revenue rose 12 percent", "Costs fell", "Outlook: stable")
    assert media_type(data, "report.pdf", "application/pdf") == PDF
    whole = extract_text(data, PDF, max_pages=10)
    assert whole.pages == whole.pages_read == 3
    assert "Quarterly revenue rose 12 percent" in whole.text and "Outlook: stable" in whole.text
    cut = extract_text(data, PDF, max_pages=2)
    assert (cut.pages, cut.pages_read) == (3, 2) and "Outlook" not in cut.text


def test_a_broken_pdf_is_a_400_not_a_500() -> None:
    with pytest.raises(InvalidRequest, match="could not be read"):
        extract_text(b"%PDF-1.7\n garbage that is no PDF at all", PDF, max_pages=5)
    with pytest.raises(InvalidRequest, match="not a PDF"):
        media_type(b"just text", "report.pdf", None)


@pytest.mark.parametrize(
    ("data", "name", "declared", "kind"),
    [
        (b"# Title\n", "notes.md", None, "text/plain"),
        (b"a,b\n1,2\n", "t.csv", "text/csv", "text/csv"),
        (b'{"a": 1}', "x.json", "application/json", "application/json"),
        (b"print('hi')\n", "x.py", "application/octet-stream", "text/plain"),
        ("héllo wörld".encode(), None, None, "text/plain"),
        (PNG, "renamed.txt", "text/plain", "image/png"),
        (JPEG, None, None, "image/jpeg"),
    ],
)
def test_types_are_read_from_the_bytes_then_the_name(
    data: bytes, name: str | None, declared: str | None, kind: str
) -> None:
    assert media_type(data, name, declared) == kind


@pytest.mark.parametrize(
    ("data", "name", "declared"),
    [
        (b"\x00\x01\x02binary", "data.bin", "application/octet-stream"),
        (b"PK\x03\x04zip", "a.docx", None),
        (b"\xff\xfe\x00h\x00i", "utf16.txt", "text/plain"),  # not UTF-8: refused, not garbled
        (b"text", "a.exe", "application/x-msdownload"),
    ],
)
def test_other_files_are_415(data: bytes, name: str, declared: str | None) -> None:
    with pytest.raises(UnsupportedFileType):
        media_type(data, name, declared)


def test_the_text_block_names_the_file_and_says_what_was_cut() -> None:
    block = describe("uploads/a.txt", "text/plain", 10, Extracted("x" * 30), max_chars=10)
    assert block.startswith("[file uploads/a.txt (text/plain, 10 bytes), saved in the workspace")
    assert "x" * 10 in block and "x" * 11 not in block
    assert "cut at 10 of its 30 characters (api_server.max_file_chars)" in block
    pdf_block = describe("uploads/r.pdf", PDF, 5, Extracted("t", 9, 2), max_chars=100)
    assert "9 pages" in pdf_block and "only the first 2 of 9 pages" in pdf_block


@pytest.mark.parametrize(
    ("hostile", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..", "file"),
        (".bashrc", "bashrc"),
        ("/abs/path/report.pdf", "report.pdf"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("rm -rf $(x);.sh", "rm -rf _x_.sh"),
        ("", "file"),
        (None, "file"),
        ("résumé.md", "résumé.md"),
    ],
)
def test_hostile_names_are_neutralised(hostile: str | None, safe: str) -> None:
    name = safe_name(hostile)
    assert name == safe


def test_a_long_name_keeps_its_extension() -> None:
    name = safe_name("a" * 500 + ".pdf")
    assert len(name) <= 100 and name.endswith(".pdf")
    assert candidates("r.pdf")[:3] == ["r.pdf", "r-2.pdf", "r-3.pdf"]


def test_saving_never_overwrites_and_reuses_the_same_bytes(tmp_path: Path) -> None:
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "notes.md").write_text("the agent's own notes")
    assert save(tmp_path, "notes.md", b"uploaded") == "uploads/notes-2.md"
    assert (tmp_path / "uploads" / "notes.md").read_text() == "the agent's own notes"
    assert save(tmp_path, "notes.md", b"uploaded") == "uploads/notes-2.md"  # a resent file
    assert save(tmp_path, "../../notes.md", b"other") == "uploads/notes-3.md"
    assert save(tmp_path, "../../../x", b"x") == "uploads/x"
    assert not (tmp_path.parent / "x").exists()
    leftovers = [p.name for p in (tmp_path / "uploads").iterdir() if p.name.startswith(".")]
    assert leftovers == [] and oct((tmp_path / "uploads" / "x").stat().st_mode & 0o777) == "0o600"


def test_saving_follows_no_symlink_the_agent_planted(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "uploads").mkdir()
    os.symlink(outside / "target.txt", ws / "uploads" / "a.txt")  # a link to a file
    assert save(ws, "a.txt", b"data") == "uploads/a-2.txt"
    assert not (outside / "target.txt").exists()
    ws2 = tmp_path / "ws2"
    ws2.mkdir()
    os.symlink(outside, ws2 / "uploads")  # uploads itself a link out of the workspace
    with pytest.raises(HermesError, match="not a folder"):
        save(ws2, "a.txt", b"data")
    assert list(outside.iterdir()) == []
