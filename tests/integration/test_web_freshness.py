"""Web sources stay current: re-checks with ETag and content hashes against a real local site, changed
pages replaced through the upload path, whole sites crawled politely within robots.txt and N, one
re-check pass at a time across replicas, and a background re-checker that survives errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bot.app import Services, build_services, run_migrations
from bot.domain import GLOBAL_SCOPE, chat_scope
from bot.embed.embedder import Embedder
from bot.embed.sparse import SparseEmbedder
from bot.ingest.freshness import WebSources
from bot.ingest.web import WebClient
from bot.storage.web_sources import WebSourceStore
from tests.conftest import ADMIN_ID, SettingsFactory, free_port
from tests.support.embedders import CountingEmbedder
from tests.support.web_site import ChangingSite, article, serve

SECTIONS = {
    "Возврат": "Вернуть товар надлежащего качества можно в течение 14 дней после покупки, сохранив чек.",
    "Доставка": "Курьер привозит заказ в течение двух рабочих дней; доставка бесплатна от 3000 рублей.",
    "Гарантия": "Гарантия на электронику составляет один год с даты покупки, ремонт в сервисном центре.",
}


def sectioned(sections: dict[str, str]) -> str:
    """A help page with one <h2> section per topic, so it is indexed as several chunks."""
    body = "".join(f"<h2>{title}</h2><p>{text} {text}</p>" for title, text in sections.items())
    return (
        "<html><head><title>Помощь покупателю</title></head><body><nav><a href='/'>Главная</a></nav>"
        f"<article><h1>Помощь покупателю</h1>{body}</article><footer>© Магазин</footer></body></html>"
    )


@pytest.fixture
async def kb(
    make_settings: SettingsFactory, embedder: Embedder, sparse_embedder: SparseEmbedder
) -> AsyncIterator[tuple[Services, CountingEmbedder]]:
    """The bot's services (real Redis, embedded Qdrant), local addresses allowed, no crawl delay."""
    counting = CountingEmbedder(embedder)
    settings = make_settings(url_allow_private_networks=True, crawl_delay_s=0)
    await run_migrations(settings, embedder, sparse_embedder)
    async with build_services(settings, embedder=counting, sparse=sparse_embedder) as services:
        yield services, counting


async def test_an_unchanged_page_costs_a_304_and_no_embedding(kb: tuple[Services, CountingEmbedder]) -> None:
    services, counting = kb
    site = ChangingSite()
    site.pages["/help"] = sectioned(SECTIONS)
    site.etags["/help"] = '"v1"'
    async with serve(site.app()) as base:
        added = await services.web_sources.add_page(f"{base}/help", GLOBAL_SCOPE, uploaded_by=ADMIN_ID)
        first_check = (await services.web_sources.checked_at([GLOBAL_SCOPE]))[added.document.doc_id]
        counting.embedded.clear()
        # Not due yet (URL_REFRESH_HOURS is 24): a periodic pass leaves it alone.
        assert (await services.web_sources.refresh()).rows == []
        report = await services.web_sources.refresh(only_due=False)
    assert report.rows == [(f"{base}/help", "unchanged", "304")]
    assert site.requests[-1] == ("/help", '"v1"')  # a conditional request
    assert counting.embedded == []
    assert (await services.web_sources.checked_at([GLOBAL_SCOPE]))[added.document.doc_id] > first_check


async def test_same_bytes_or_same_text_is_not_embedded_again(kb: tuple[Services, CountingEmbedder]) -> None:
    services, counting = kb
    site = ChangingSite()
    site.pages["/help"] = sectioned(SECTIONS)  # no ETag: the server gives nothing to compare
    async with serve(site.app()) as base:
        await services.web_sources.add_page(f"{base}/help", GLOBAL_SCOPE, uploaded_by=ADMIN_ID)
        counting.embedded.clear()
        same_bytes = await services.web_sources.refresh(only_due=False)
        # Only the footer changed: other bytes, the same text.
        site.pages["/help"] = sectioned(SECTIONS).replace("© Магазин", "© Магазин, 2027")
        same_text = await services.web_sources.refresh(only_due=False)
    assert same_bytes.rows == [(f"{base}/help", "unchanged", "same bytes")]
    assert same_text.rows == [(f"{base}/help", "unchanged", "same text")]
    assert counting.embedded == []
    assert len(await services.ingestion.documents([GLOBAL_SCOPE])) == 1


async def test_a_changed_page_replaces_its_old_version_re_embedding_only_what_changed(
    kb: tuple[Services, CountingEmbedder],
) -> None:
    services, counting = kb
    site = ChangingSite()
    site.pages["/help"] = sectioned(SECTIONS)
    site.etags["/help"] = '"v1"'
    async with serve(site.app()) as base:
        first = await services.web_sources.add_page(f"{base}/help", GLOBAL_SCOPE, uploaded_by=ADMIN_ID)
        assert first.document.chunks == len(SECTIONS)
        counting.embedded.clear()
        site.pages["/help"] = sectioned({**SECTIONS, "Возврат": SECTIONS["Возврат"].replace("14", "30")})
        site.etags["/help"] = '"v2"'
        report = await services.web_sources.refresh(only_due=False)
    [(_, status, new_id)] = report.rows
    assert status == "changed"
    [doc] = await services.ingestion.documents([GLOBAL_SCOPE])
    assert doc.doc_id == new_id != first.document.doc_id
    assert len(counting.embedded) == 1  # the one changed section
    assert "30 дней" in counting.embedded[0]
    answer = await services.answering.answer("Сколько дней на возврат товара?", chat_id=None, remember=False)
    assert "30 дней" in answer.text
    other = await services.answering.answer("Когда бесплатна доставка?", chat_id=None, remember=False)
    assert "3000 рублей" in other.text


async def test_a_deleted_page_is_no_longer_watched(kb: tuple[Services, CountingEmbedder]) -> None:
    services, _ = kb
    site = ChangingSite()
    site.pages["/help"] = sectioned(SECTIONS)
    async with serve(site.app()) as base:
        added = await services.web_sources.add_page(f"{base}/help", chat_scope(-100), uploaded_by=ADMIN_ID)
        await services.ingestion.delete(added.document.doc_id, [chat_scope(-100)])
        report = await services.web_sources.refresh([chat_scope(-100)], only_due=False)
        requests = len(site.requests)
        assert report.rows == [(f"{base}/help", "removed", "")]
        assert (await services.web_sources.refresh(only_due=False)).rows == []
    assert requests == 1  # only the first fetch: a deleted page is never fetched again


async def test_a_site_is_crawled_from_its_sitemap_within_robots_txt(
    kb: tuple[Services, CountingEmbedder],
) -> None:
    services, _ = kb
    site = ChangingSite()
    topics = {"/delivery": "Доставка", "/returns": "Возврат", "/warranty": "Гарантия"}
    for path, title in topics.items():
        site.pages[path] = article(title, SECTIONS[title], f"Подробности раздела «{title}» у консультанта.")
    site.pages["/private/salaries"] = article("Зарплаты", "Зарплатная ведомость отдела продаж за квартал.")
    async with serve(site.app()) as base:
        site.robots = f"User-agent: *\nDisallow: /private\n\nSitemap: {base}/sitemap.xml\n"
        locations = [*topics, "/private/salaries"]
        site.sitemap = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(f"<url><loc>{base}{path}</loc></url>" for path in locations)
            + "</urlset>"
        )
        report = await services.web_sources.add_site(f"{base}/", GLOBAL_SCOPE, 50, uploaded_by=ADMIN_ID)
    assert (report.discovered_by, report.indexed, report.disallowed, report.failed) == ("sitemap", 3, 1, [])
    assert site.requested("/private/salaries") == 0
    docs = await services.ingestion.documents([GLOBAL_SCOPE])
    assert sorted(d.title for d in docs) == ["Возврат", "Гарантия", "Доставка"]
    # Every crawled page is watched like one added with /add_url.
    assert set(await services.web_sources.checked_at([GLOBAL_SCOPE])) == {d.doc_id for d in docs}


async def test_without_a_sitemap_links_are_followed_up_to_n_pages(
    kb: tuple[Services, CountingEmbedder],
) -> None:
    services, _ = kb
    site = ChangingSite()  # no robots.txt, no sitemap: both answer 404
    paths = [f"/article-{i}" for i in range(1, 9)]
    site.pages["/"] = article("Справочник", "Статьи справочника для сотрудников склада.", links=tuple(paths))
    for i, path in enumerate(paths, 1):
        site.pages[path] = article(
            f"Статья {i}", f"Правило номер {i}: ящики с кодом {1000 + i} ставят на стеллаж {i}.", links=("/",)
        )
    async with serve(site.app()) as base:
        report = await services.web_sources.add_site(f"{base}/", GLOBAL_SCOPE, 4, uploaded_by=ADMIN_ID)
    assert report.discovered_by == "links"
    assert report.indexed == 4
    fetched_pages = [path for path, _ in site.requests if path not in ("/robots.txt", "/sitemap.xml")]
    assert fetched_pages == ["/", "/article-1", "/article-2", "/article-3"]  # N pages, one request each


async def test_one_re_check_pass_at_a_time_across_replicas(
    kb: tuple[Services, CountingEmbedder], redis: Redis
) -> None:
    services, _ = kb
    other_replica = WebSourceStore(redis)
    async with other_replica.exclusive(ttl_s=60) as lease:
        assert lease is not None
        assert (await services.web_sources.refresh(only_due=False)).busy
        async with other_replica.exclusive(ttl_s=60) as second:
            assert second is None
    assert not (await services.web_sources.refresh(only_due=False)).busy
    # A replica that died holding the lock frees it when the lock expires.
    assert await redis.lock("kb:web:refresh-lock", timeout=0.3, thread_local=False).acquire(blocking=False)
    assert (await services.web_sources.refresh(only_due=False)).busy
    await asyncio.sleep(0.5)
    assert not (await services.web_sources.refresh(only_due=False)).busy


async def test_the_background_re_checker_replaces_a_changed_page_and_survives_errors(
    kb: tuple[Services, CountingEmbedder], redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    services, _ = kb
    site = ChangingSite()
    site.pages["/help"] = sectioned(SECTIONS)
    client = WebClient(max_bytes=10**6, allow_private=True)
    async with serve(site.app()) as base:
        await services.web_sources.add_page(f"{base}/help", GLOBAL_SCOPE, uploaded_by=ADMIN_ID)
        site.pages["/help"] = sectioned(
            {**SECTIONS, "Доставка": SECTIONS["Доставка"].replace("3000", "5000")}
        )
        # Re-checked every 0.2 s here, so the change is picked up by itself.
        web = WebSources(services.ingestion, WebSourceStore(redis), client, refresh_every_s=0.2, delay_s=0)
        stop = asyncio.Event()
        task = asyncio.create_task(web.run_periodically(stop, poll_s=0.1))
        for _ in range(50):
            await asyncio.sleep(0.2)
            answer = await services.answering.answer(
                "От какой суммы доставка бесплатна?", chat_id=None, remember=False
            )
            if "5000" in answer.text:
                break
        else:
            pytest.fail("the background re-checker never picked up the change")
        stop.set()
        await asyncio.wait_for(task, 10)

    # Redis gone: every pass fails, and the re-checker logs it and carries on.
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    broken = WebSources(services.ingestion, WebSourceStore(dead), client, refresh_every_s=0.2, delay_s=0)
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, logger="bot.ingest.freshness"):
        task = asyncio.create_task(broken.run_periodically(stop, poll_s=0.05))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if sum("web re-check pass failed" in r.getMessage() for r in caplog.records) >= 2:
                break
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, 10)
    assert sum("web re-check pass failed" in r.getMessage() for r in caplog.records) >= 2
    await dead.aclose()
