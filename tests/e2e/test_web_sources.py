"""/add_site through the real polling loop, /docs showing when each page was checked, and
`kb-bot refresh` re-checking them from the command line (as cron would)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ADMIN_ID
from tests.e2e.conftest import BotStarter
from tests.e2e.test_cli import _cli, _env
from tests.support.llm_server import GroundedLLMServer
from tests.support.telegram_server import FakeTelegramServer
from tests.support.web_site import ChangingSite, article, serve

PAGES = {
    "/returns": ("Возврат", "Вернуть товар можно в течение 14 дней после покупки, сохранив чек."),
    "/delivery": ("Доставка", "Курьер привозит заказ за два рабочих дня; бесплатно от 3000 рублей."),
    "/warranty": ("Гарантия", "Гарантия на электронику составляет один год с даты покупки."),
}


async def test_add_site_then_docs_then_refresh_from_the_command_line(
    start_bot: BotStarter,
    telegram_server: FakeTelegramServer,
    tmp_path: Path,
    redis_url: str,
    llm_server: GroundedLLMServer,
) -> None:
    tg = telegram_server
    site = ChangingSite()
    for path, (title, text) in PAGES.items():
        site.pages[path] = article(title, text)
        site.etags[path] = f'"{path}-v1"'
    async with serve(site.app()) as base:
        site.sitemap = "<urlset>" + "".join(f"<url><loc>{base}{p}</loc></url>" for p in PAGES) + "</urlset>"
        async with start_bot(url_allow_private_networks=True, crawl_delay_s=0, upload_progress_interval_s=0):
            tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, text=f"/add_site {base}/ 9999")
            usage = await tg.wait_for("sendMessage", lambda r: r.chat_id == ADMIN_ID)
            assert "at most 500" in usage.visible_text

            tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, text=f"/add_site {base}/ 2")
            done = await tg.wait_for("editMessageText", lambda r: "Site" in (r.text or ""))
            assert "2 pages added" in done.visible_text
            assert "in the sitemap" in done.visible_text
            progress = [r.visible_text for r in tg.calls("editMessageText")]
            assert f"⏳ {base}/: loading the site's pages, 1 done (at most 2)…" in progress

            tg.push_message(chat_id=ADMIN_ID, user_id=ADMIN_ID, text="/docs")
            listing = await tg.wait_for("sendMessage", lambda r: "Documents (2)" in (r.text or ""))
            assert listing.visible_text.count("🔄 last checked for changes") == 2

        # The operator's cron job: one page changed, one did not.
        site.pages["/returns"] = article("Возврат", PAGES["/returns"][1].replace("14", "30"))
        site.etags["/returns"] = '"/returns-v2"'
        env = {**_env(tmp_path, redis_url, llm_server), "URL_ALLOW_PRIVATE_NETWORKS": "true"}
        refreshed = await _cli(tmp_path, env, "refresh")
    assert refreshed.returncode == 0, refreshed.stderr
    rows = {line.split()[1]: line.split()[0] for line in refreshed.stdout.splitlines()[1:-1]}
    assert rows == {f"{base}/returns": "changed", f"{base}/delivery": "unchanged"}
    assert "2 pages: 1 changed, 1 unchanged, 0 failed" in refreshed.stdout
