"""Thin aiogram routers: read the update, call a service, render the reply."""

from aiogram import Router

from bot.handlers import common, documents, errors, questions


def setup_routers() -> Router:
    root = Router(name="root")
    # Order matters: commands and files before the catch-all question handler.
    root.include_routers(common.router(), documents.router(), questions.router(), errors.router())
    return root
