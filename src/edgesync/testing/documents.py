"""Realistic office documents and the edits people make to them, generated on the spot.

Tests, the demo and app developers' own tests need real docx/xlsx/pptx/odt/ods
files written by the libraries people use (python-docx, openpyxl,
python-pptx, odfpy: install ``edgesync[test]``), not hand-made ZIPs. Each
``make_*`` function returns the bytes of a document built from a seed, and
each ``edit_*`` function returns the bytes of the same document after one
realistic edit, saved again by the same library (so the whole container is
rewritten, as an office program does)::

    old = make_docx(paragraphs=40, seed=1)
    new = edit_docx(old, "type")         # one character typed mid-document

Text comes from a small deterministic word generator, so runs are repeatable.
"""

from __future__ import annotations

import io
import random
import struct
import zlib

__all__ = [
    "EDITS",
    "edit_docx",
    "edit_odt",
    "edit_pptx",
    "edit_text",
    "edit_xlsx",
    "make_docx",
    "make_odt",
    "make_png",
    "make_pptx",
    "make_text",
    "make_xlsx",
    "words",
]

_VOCABULARY = (
    "the edge keeps each version of a document and applies the delta before upload to "
    "cloud storage while a phone on a slow link sends only what changed in the file "
    "report budget quarterly revenue meeting notes draft final review customer order "
    "region product quantity price total summary figure table section chapter appendix"
).split()

#: The edits each ``edit_*`` function knows, by document type.
EDITS = {
    "docx": ("type", "paragraph", "delete", "image"),
    "xlsx": ("cell", "row", "scattered"),
    "pptx": ("type", "bullet", "slide"),
    "odt": ("type", "paragraph", "delete"),
    "text": ("type", "paragraph", "delete", "scattered"),
}


def words(n: int, rng: random.Random) -> str:
    """``n`` words of plausible prose, starting with a capital and ending with a period."""
    text = " ".join(rng.choice(_VOCABULARY) for _ in range(n))
    return text[:1].upper() + text[1:] + "."


def make_png(width: int, height: int, seed: int) -> bytes:
    """A small noisy RGB PNG, made with zlib alone (no imaging library needed)."""
    rng = random.Random(seed)
    rows = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(width * 3))
                    for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


# --- docx -----------------------------------------------------------------------------------


def make_docx(paragraphs: int = 30, *, images: int = 1, seed: int = 0) -> bytes:
    """A Word document: a heading, ``paragraphs`` paragraphs of prose, ``images`` pictures."""
    import docx
    from docx.shared import Inches

    rng = random.Random(f"docx-{seed}")
    document = docx.Document()
    document.add_heading(words(5, rng), level=1)
    # The pictures spread evenly: after paragraphs 0, step, 2 * step, ...
    step = max(1, paragraphs // images) if images else 0
    for i in range(paragraphs):
        document.add_paragraph(words(rng.randint(20, 60), rng))
        if step and i % step == 0 and i // step < images:
            document.add_picture(io.BytesIO(make_png(64, 48, seed * 100 + i)), width=Inches(2))
    return _save(document)


def _save(document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def edit_docx(data: bytes, edit: str, *, seed: int = 0) -> bytes:
    """The document after one edit: ``type`` (a character typed mid-document),
    ``paragraph`` (one inserted), ``delete`` (a sentence removed) or ``image`` (replaced)."""
    import docx
    from docx.shared import Inches

    rng = random.Random(f"docx-edit-{edit}-{seed}")
    document = docx.Document(io.BytesIO(data))
    body = [p for p in document.paragraphs if p.text and len(p.text) > 10]
    target = body[len(body) // 2]
    if edit == "type":
        run = target.runs[0]
        cut = len(run.text) // 2
        run.text = run.text[:cut] + "x" + run.text[cut:]
    elif edit == "paragraph":
        target.insert_paragraph_before(words(40, rng))
    elif edit == "delete":
        run = target.runs[0]
        run.text = run.text[run.text.find(" ", 10) + 1:]
    elif edit == "image":
        document.add_picture(io.BytesIO(make_png(64, 48, seed + 7777)), width=Inches(2))
    else:
        raise ValueError(f"unknown docx edit {edit!r}; known: {EDITS['docx']}")
    return _save(document)


# --- xlsx -----------------------------------------------------------------------------------


def make_xlsx(rows: int = 200, *, seed: int = 0) -> bytes:
    """An orders sheet: ID, customer, region, product, quantity, price, and a total formula."""
    import openpyxl

    rng = random.Random(f"xlsx-{seed}")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Orders"
    sheet.append(["ID", "Customer", "Region", "Product", "Qty", "Price", "Total"])
    customers = [words(2, rng)[:-1] for _ in range(30)]
    for i in range(2, rows + 2):
        sheet.append([i - 1, rng.choice(customers), rng.choice(["North", "South", "East"]),
                      rng.choice(["widget", "gadget", "doohickey"]), rng.randint(1, 99),
                      round(rng.uniform(1, 500), 2), f"=E{i}*F{i}"])
    return _save(book)


def edit_xlsx(data: bytes, edit: str, *, seed: int = 0) -> bytes:
    """The workbook after ``cell`` (a quantity changed), ``row`` (a row inserted mid-sheet,
    formulas below renumbered) or ``scattered`` (20 cells changed across the sheet)."""
    import openpyxl

    rng = random.Random(f"xlsx-edit-{edit}-{seed}")
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.active
    n = sheet.max_row
    if edit == "cell":
        sheet.cell(row=n // 2, column=5).value = rng.randint(100, 200)
    elif edit == "row":
        at = n // 2
        sheet.insert_rows(at)
        for r in range(at + 1, n + 2):
            sheet.cell(row=r, column=7).value = f"=E{r}*F{r}"
        sheet.cell(row=at, column=1).value = 0
        sheet.cell(row=at, column=2).value = words(2, rng)[:-1]
        sheet.cell(row=at, column=7).value = f"=E{at}*F{at}"
    elif edit == "scattered":
        for _ in range(20):
            sheet.cell(row=rng.randint(2, n), column=5).value = rng.randint(100, 200)
    else:
        raise ValueError(f"unknown xlsx edit {edit!r}; known: {EDITS['xlsx']}")
    return _save(book)


# --- pptx -----------------------------------------------------------------------------------


def make_pptx(slides: int = 6, *, seed: int = 0) -> bytes:
    """A deck of title-and-bullets slides with speaker notes."""
    import pptx

    rng = random.Random(f"pptx-{seed}")
    deck = pptx.Presentation()
    layout = deck.slide_layouts[1]
    for _ in range(slides):
        slide = deck.slides.add_slide(layout)
        slide.shapes.title.text = words(4, rng)
        frame = slide.placeholders[1].text_frame
        frame.text = words(8, rng)
        for _ in range(rng.randint(3, 5)):
            frame.add_paragraph().text = words(rng.randint(6, 12), rng)
        slide.notes_slide.notes_text_frame.text = words(30, rng)
    return _save(deck)


def edit_pptx(data: bytes, edit: str, *, seed: int = 0) -> bytes:
    """The deck after ``type`` (a character typed in a bullet), ``bullet`` (one added)
    or ``slide`` (a slide appended)."""
    import pptx

    rng = random.Random(f"pptx-edit-{edit}-{seed}")
    deck = pptx.Presentation(io.BytesIO(data))
    slide = deck.slides[len(deck.slides) // 2]
    frame = slide.placeholders[1].text_frame
    if edit == "type":
        run = frame.paragraphs[0].runs[0]
        run.text = run.text[:3] + "x" + run.text[3:]
    elif edit == "bullet":
        frame.add_paragraph().text = words(8, rng)
    elif edit == "slide":
        new = deck.slides.add_slide(deck.slide_layouts[1])
        new.shapes.title.text = words(4, rng)
        new.placeholders[1].text_frame.text = words(10, rng)
    else:
        raise ValueError(f"unknown pptx edit {edit!r}; known: {EDITS['pptx']}")
    return _save(deck)


# --- odt (odfpy) --------------------------------------------------------------------------


def make_odt(paragraphs: int = 30, *, seed: int = 0) -> bytes:
    """An OpenDocument text with a heading and ``paragraphs`` paragraphs."""
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    rng = random.Random(f"odt-{seed}")
    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text=words(5, rng)))
    for _ in range(paragraphs):
        document.text.addElement(P(text=words(rng.randint(20, 60), rng)))
    return _save(document)


def edit_odt(data: bytes, edit: str, *, seed: int = 0) -> bytes:
    """The document after ``type``, ``paragraph`` or ``delete`` (as :func:`edit_docx`)."""
    from odf import teletype
    from odf.opendocument import load
    from odf.text import P

    rng = random.Random(f"odt-edit-{edit}-{seed}")
    document = load(io.BytesIO(data))
    paragraphs = document.getElementsByType(P)
    target = paragraphs[len(paragraphs) // 2]
    text = teletype.extractText(target)
    if edit == "paragraph":
        new = P(text=words(40, rng))
        target.parentNode.insertBefore(new, target)
    else:
        if edit == "type":
            text = text[: len(text) // 2] + "x" + text[len(text) // 2:]
        elif edit == "delete":
            text = text[text.find(" ", 10) + 1:]
        else:
            raise ValueError(f"unknown odt edit {edit!r}; known: {EDITS['odt']}")
        # odfpy cannot remove text nodes, so the paragraph is replaced whole.
        target.parentNode.insertBefore(P(text=text), target)
        target.parentNode.removeChild(target)
    return _save(document)


# --- plain text --------------------------------------------------------------------------


def make_text(lines: int = 400, *, seed: int = 0) -> bytes:
    """Prose wrapped at about 72 columns, as UTF-8."""
    rng = random.Random(f"text-{seed}")
    return "\n".join(words(rng.randint(8, 12), rng) for _ in range(lines)).encode() + b"\n"


def edit_text(data: bytes, edit: str, *, seed: int = 0) -> bytes:
    """The text after ``type``, ``paragraph``, ``delete`` or ``scattered`` (20 word swaps)."""
    rng = random.Random(f"text-edit-{edit}-{seed}")
    text = data.decode()
    mid = len(text) // 2
    if edit == "type":
        return (text[:mid] + "x" + text[mid:]).encode()
    if edit == "paragraph":
        cut = text.index("\n", mid) + 1
        return (text[:cut] + words(50, rng) + "\n" + text[cut:]).encode()
    if edit == "delete":
        cut = text.index("\n", mid) + 1
        end = text.index("\n", cut) + 1
        return (text[:cut] + text[end:]).encode()
    if edit == "scattered":
        tokens = text.split(" ")
        for _ in range(20):
            tokens[rng.randrange(len(tokens))] = rng.choice(_VOCABULARY)
        return " ".join(tokens).encode()
    raise ValueError(f"unknown text edit {edit!r}; known: {EDITS['text']}")
