"""The floor of the load benchmark: the least an aiogram bot can do per question, one model call.

    TELEGRAM_API_URL=… LLM_BASE_URL=… BOT_TOKEN=… python -m bench.floor_bot

Long polling like the bot, the question sent to the model as it is, the reply sent back as a reply.
Whatever the real bot takes beyond this is its own overhead.
"""

from __future__ import annotations

import asyncio
import os

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message, ReplyParameters
from openai import AsyncOpenAI


async def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"]))
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    model = AsyncOpenAI(base_url=os.environ["LLM_BASE_URL"], api_key="floor")
    dp = Dispatcher()

    @dp.message(F.text)
    async def answer(message: Message) -> None:
        response = await model.chat.completions.create(
            model="floor", messages=[{"role": "user", "content": message.text or ""}]
        )
        await message.answer(
            response.choices[0].message.content or "…",
            reply_parameters=ReplyParameters(message_id=message.message_id),
        )

    await dp.start_polling(bot, polling_timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
