"""A small bilingual knowledge base the tests ingest: a returns policy (ru) and a VPN guide (en)."""

from __future__ import annotations

RETURNS_MD = """# Правила возврата

## Сроки
Покупатель может вернуть товар надлежащего качества в течение 14 дней после покупки.
Для электроники срок возврата составляет 7 дней.

## Документы
Для возврата нужен чек и паспорт покупателя. Возврат денег занимает до 10 рабочих дней.
"""

VPN_MD = """# VPN setup guide

## Installation
Download the WireGuard client from the company portal and import the configuration file vpn-office.conf.

## Troubleshooting
Error ERR-4512 means the certificate has expired: request a new certificate from the helpdesk.
"""

OUT_OF_DOMAIN_RU = "Какая погода будет завтра на Марсе?"
OUT_OF_DOMAIN_EN = "Who won the football championship yesterday?"
