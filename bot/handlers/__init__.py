"""Thin aiogram routers: read the update, call a service, render the reply."""

from aiogram import Router

from bot.handlers import albums, chat_settings, common, documents, errors, feedback, questions, web_sources


def setup_routers() -> Router:
    root = Router(name="root")
    # Order matters: commands, files and buttons before the catch-all question handlers.
    root.include_routers(
        common.router(),
        albums.router(),  # before documents: an album's files are handled as one set
        documents.router(),
        web_sources.router(),
        chat_settings.router(),
        feedback.router(),
        questions.router(),
        errors.router(),
    )
    return root
