"""Thin aiogram routers: read the update, call a service, render the reply."""

from aiogram import Router

from bot.handlers import chat_settings, common, documents, errors, feedback, questions


def setup_routers() -> Router:
    root = Router(name="root")
    # Order matters: commands, files and buttons before the catch-all question handlers.
    root.include_routers(
        common.router(),
        documents.router(),
        chat_settings.router(),
        feedback.router(),
        questions.router(),
        errors.router(),
    )
    return root
