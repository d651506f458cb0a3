"""What an admin sees after an upload: warnings instead of a silent "indexed", and photos and scans
accepted and read (issue 11)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ADMIN_ID
from tests.e2e.conftest import BotStarter
from tests.e2e.test_cli import _cli, _env
from tests.support.documents import find_cyrillic_font
from tests.support.llm_server import GroundedLLMServer
from tests.support.office_fixtures import make_containers_xlsx
from tests.support.scans import image_bytes, render_page
from tests.support.telegram_server import FakeTelegramServer

GROUP = -100777
CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases"


async def test_the_summary_lists_what_could_not_be_read(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    async with start_bot():
        tg.add_file("f-sheet", make_containers_xlsx(), "склад.xlsx")
        tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, document=tg.document_for("f-sheet"))
        summary = await tg.wait_for("editMessageText", lambda r: "Added “" in (r.text or ""))
    assert summary.visible_text.endswith(
        "⚠️ Please check: 1 image without text (pictures are not read), "
        "3 formulas without saved values (the formulas themselves are searchable), "
        "1 hidden sheet, its text is added too."
    )


async def test_a_photo_and_an_image_file_are_uploaded_and_read_by_ocr(
    start_bot: BotStarter, telegram_server: FakeTelegramServer
) -> None:
    tg = telegram_server
    page = render_page("Памятка кладовщика. Код ключ-фото-3120 ставится на ящики.", find_cyrillic_font(), 200)
    tg.add_file("p-photo", image_bytes([page], "JPEG", 200), "photo.jpg")
    tg.add_file("f-scan", image_bytes([page], "PNG", 200), "памятка.png")
    tg.add_group(GROUP)
    tg.set_chat_member(GROUP, ADMIN_ID, "administrator")
    async with start_bot(upload_progress_interval_s=0):
        # In private a photo alone is an upload; in a group, with the caption /upload.
        tg.push_message(
            chat_id=ADMIN_ID,
            user_id=ADMIN_ID,
            photo=tg.photo_sizes_for("p-photo", *page.size),
            language_code="ru",
        )
        private = await tg.wait_for(
            "editMessageText", lambda r: r.chat_id == ADMIN_ID and ") добавлен" in (r.text or "")
        )
        tg.push_message(
            chat_id=GROUP,
            user_id=ADMIN_ID,
            document=tg.document_for("f-scan"),
            caption="/upload",
            entities=[{"type": "bot_command", "offset": 0, "length": len("/upload")}],
        )
        group = await tg.wait_for(
            "editMessageText", lambda r: r.chat_id == GROUP and "Added “" in (r.text or "")
        )
    assert "photo_uniq-p-photo.jpg" in private.visible_text
    assert private.visible_text.endswith(
        "⚠️ Обратите внимание: 1 страница распознана (OCR), в тексте возможны ошибки."
    )
    assert "памятка.png" in group.visible_text
    ocr_stages = [r.visible_text for r in tg.calls("editMessageText") if "OCR" in r.visible_text]
    assert "⏳ photo_uniq-p-photo.jpg: распознаю текст (OCR), страница 1 из 1…" in ocr_stages


async def test_the_cli_table_notes_the_warnings(
    tmp_path: Path, redis_url: str, llm_server: GroundedLLMServer
) -> None:
    env = _env(tmp_path, redis_url, llm_server)
    cases = tmp_path / "cases"
    cases.mkdir()
    for name in ("d04_formula_no_cache.xlsx", "d02a_textbox_drawingml.docx"):
        (cases / name).write_bytes((CASES / name).read_bytes())
    assert (await _cli(tmp_path, env, "migrate")).returncode == 0
    ingest = await _cli(tmp_path, env, "ingest", str(cases))
    assert ingest.returncode == 0, ingest.stderr
    rows = {line.split()[1].rsplit("/", 1)[-1]: line for line in ingest.stdout.splitlines()[1:-1]}
    assert rows["d04_formula_no_cache.xlsx"].startswith("INDEXED")
    assert rows["d04_formula_no_cache.xlsx"].endswith("3 formulas without values")
    assert "without" not in rows["d02a_textbox_drawingml.docx"]
    assert "2 files: 2 indexed, 0 already indexed, 0 failed" in ingest.stdout
    assert ingest.stdout.rstrip().endswith("1 with warnings (see the note column)")
