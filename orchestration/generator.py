"""Synthetic raw chat events for the landing zone (SPEC §1 contract, §2 layout, exercising §3).

The generator simulates a chatbot platform's conversations day by day (days of the configured
business time zone), with daily and weekly seasonality, returning customers, customers on two
channels, bot flows, handovers with every outcome, agent replies, internal notes, closes, reopens and
handovers left open, and the shapes of sessionization version 2 (SPEC §3) in configurable shares
(GeneratorConfig's SHAPE_RATES, counted in GenerationSummary.shapes): welcomes that open a visit
(answered seconds later or never), proactive campaign messages (mostly unanswered, some answered
within minutes, a few after more than 10 minutes), agents' goodbyes right after a close, tickets
nobody closes whose customers come back after the handover timeout, and customers who continue after
a few minutes of silence or come back later the same day. On top of the clean stream it adds the dirt a real export has: redelivered
events, late arrivals, malformed lines of every quarantine reason of decisions.md R5, unknown extra
fields, non-`Z` offsets, nanosecond fractions and channel values in other spellings.

Everything is vectorised: one conversation "program" is a fixed list of slots (possible events), and
each slot is decided for a whole batch of conversations at once with numpy. Lines are assembled with
pyarrow string kernels from pre-rendered JSON pieces and written as gzip (Arrow's codec), plain bytes, or
Parquet. Files are written atomically (temporary dot-file in the same folder, then rename).

Determinism: the output depends only on the configuration (and the numpy and pyarrow versions):
every random stream is seeded from `seed` and the absolute date it belongs to.

Identifiers derive from `seed` and the absolute event date, so two runs over consecutive windows
with the same seed never reuse an `event_id`; files never overwrite earlier ones (see `generate`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

FileFormat = Literal["ndjson", "ndjson.gz", "parquet"]
FILE_FORMATS: tuple[str, ...] = ("ndjson", "ndjson.gz", "parquet")

#: gzip level of `ndjson.gz` files (1 = fastest; files about a third bigger than at level 6).
GZIP_LEVEL = 1

# ---------------------------------------------------------------------------------------------------
# Vocabulary of the contract (SPEC §1)
# ---------------------------------------------------------------------------------------------------

CHANNELS: tuple[str, ...] = ("web", "messenger", "instagram", "whatsapp", "sms", "apple_messages")
#: other spellings the platform sometimes sends (two per channel, same order as CHANNELS)
CHANNEL_VARIANTS: tuple[tuple[str, str], ...] = (
    (" Web", "WEB"),
    ("Messenger", " messenger "),
    ("Instagram", "INSTAGRAM"),
    ("WHATSAPP", "WhatsApp "),
    ("SMS", " sms"),
    ("Apple_Messages", "APPLE_MESSAGES"),
)
EVENT_TYPES: tuple[str, ...] = (
    "message",
    "handover_requested",
    "handover_received",
    "handover_cancelled",
    "handover_disabled",
    "handover_incomplete",
    "conversation_closed",
)
SENDERS: tuple[str, ...] = ("customer", "bot", "agent")
#: the last one renders as an absent `message_type` (the contract's default is `text`)
MESSAGE_TYPES: tuple[str | None, ...] = (
    "text",
    "quick_reply",
    "postback",
    "attachment",
    "welcome",
    "internal_note",
    None,
)
FLOW_TYPES: tuple[str, ...] = ("campaign", "transfer", "sales", "support", "other")
DEPARTMENTS: tuple[str, ...] = ("support", "sales", "billing", "returns", "technical")
OUTCOMES: tuple[str, ...] = ("successful", "cancelled", "disabled", "incomplete", "pending")

(E_MESSAGE, E_REQUESTED, E_RECEIVED, E_CANCELLED, E_DISABLED, E_INCOMPLETE, E_CLOSED) = range(7)
S_CUSTOMER, S_BOT, S_AGENT = range(3)
(MT_TEXT, MT_QUICK_REPLY, MT_POSTBACK, MT_ATTACHMENT, MT_WELCOME, MT_NOTE, MT_IMPLICIT) = range(7)
F_CAMPAIGN, F_TRANSFER, F_SALES, F_SUPPORT, F_OTHER = range(5)
O_SUCCESSFUL, O_CANCELLED, O_DISABLED, O_INCOMPLETE, O_PENDING = range(5)

#: timestamp suffixes: code 0 is `Z`, the others are offsets (minutes east of UTC)
TS_SUFFIXES: tuple[str, ...] = ("Z", "+02:00", "+01:00", "-05:00", "+05:30", "-03:00", "+00:00")
TS_OFFSET_MINUTES = np.array([0, 120, 60, -300, 330, -180, 0], dtype=np.int64)

_MS_PER_DAY = 86_400_000
_EPOCH = date(1970, 1, 1)
_NEVER = np.iinfo(np.int64).max
_MAX_EVENTS_PER_DAY = 1 << 27  # id space of one day (the next bit marks malformed lines)


# ---------------------------------------------------------------------------------------------------
# Behaviour of the simulated business (per channel, indexed like CHANNELS)
# ---------------------------------------------------------------------------------------------------

CHANNEL_SHARE = np.array([0.34, 0.17, 0.12, 0.22, 0.07, 0.08])  # customers' primary channel
HAS_WELCOME = np.array([True, True, True, True, False, True])  # no welcome message on SMS
#: the widget greets when the customer opens it (web widget, Messenger, Apple Messages for Business);
#: on Instagram, WhatsApp and SMS the customer writes first and the welcome (if any) answers
GREETS_ON_OPEN = np.array([True, True, False, False, False, True])
#: relative number of proactive campaign messages per visit: broadcasts go to opted-in messaging
#: contacts far more than to web visitors (scaled so that the visit-weighted mean is 1)
CAMPAIGN_WEIGHT = np.array([0.3, 1.6, 1.0, 1.8, 1.5, 0.5])
CAMPAIGN_WEIGHT = CAMPAIGN_WEIGHT / (CHANNEL_SHARE * CAMPAIGN_WEIGHT).sum()
P_DIRECT_HANDOVER = np.array([0.02, 0.03, 0.02, 0.06, 0.08, 0.04])  # opens with handover_requested
P_NO_ANSWER = np.array([0.38, 0.22, 0.28, 0.15, 0.12, 0.20])  # never answers the welcome / first reply
P_HANDOVER = np.array([0.17, 0.19, 0.14, 0.30, 0.33, 0.24])  # asks for an agent after the bot flow
#: customer message types per channel: text, quick_reply, postback, attachment
CUSTOMER_MT_MIX = np.array(
    [
        [0.45, 0.35, 0.15, 0.05],
        [0.40, 0.30, 0.25, 0.05],
        [0.60, 0.25, 0.05, 0.10],
        [0.60, 0.30, 0.00, 0.10],
        [1.00, 0.00, 0.00, 0.00],
        [0.45, 0.30, 0.20, 0.05],
    ]
)
FLOW_SHARE = np.array([0.06, 0.12, 0.25, 0.40, 0.17])  # bot flow of a conversation (campaign..other)
HANDOVER_FLOW_FACTOR = np.array([0.6, 2.2, 0.8, 1.1, 0.7])
#: outcome shares (successful, cancelled, disabled, incomplete, pending), in and outside business hours
OUTCOME_SHARE_OPEN = np.array([0.68, 0.11, 0.04, 0.12, 0.05])
OUTCOME_SHARE_CLOSED = np.array([0.40, 0.10, 0.36, 0.09, 0.05])
BUSINESS_HOURS = (9, 18)  # local, Monday to Friday
P_REOPEN = 0.08  # customer writes again within 10 minutes after the close (or the goodbye)
P_LEFT_OPEN_NUDGE = 0.3  # on a ticket left open, the customer asks again 15 min - 12 h later
P_SECOND_CHANNEL = 0.12
P_USE_SECOND_CHANNEL = 0.35
ROUNDS = 6  # max customer/bot exchanges in the bot flow
AGENT_ROUNDS = 5  # max agent messages in a handover
#: the pipeline's default `handover_timeout_hours` (SPEC §3): tickets left open are placed around it
HANDOVER_TIMEOUT_MS = 24 * 3_600_000
#: received handovers per conversation (measured at the defaults): calibrates the post-close conversations
_RECEIVED_PER_CONVERSATION = 0.11

WEEKDAY_FACTOR = np.array([1.12, 1.08, 1.05, 1.04, 0.98, 0.72, 0.62])
WEEKDAY_FACTOR = WEEKDAY_FACTOR / WEEKDAY_FACTOR.mean()
HOURLY_WEEKDAY = np.array(
    [
        0.25,
        0.15,
        0.10,
        0.08,
        0.08,
        0.15,
        0.40,
        0.90,
        1.80,
        2.80,
        3.30,
        3.40,
        3.00,
        3.20,
        3.70,
        3.90,
        3.80,
        3.40,
        2.90,
        2.60,
        2.40,
        2.00,
        1.30,
        0.60,
    ]
)
HOURLY_WEEKEND = np.array(
    [
        0.40,
        0.25,
        0.15,
        0.10,
        0.08,
        0.10,
        0.20,
        0.40,
        0.90,
        1.60,
        2.20,
        2.50,
        2.40,
        2.30,
        2.40,
        2.50,
        2.50,
        2.40,
        2.30,
        2.30,
        2.20,
        1.90,
        1.30,
        0.80,
    ]
)

# Rendering dirt (fractions of distinct events)
P_OFFSET = 0.05  # occurred_at with an offset other than Z
P_NANOS = 0.02  # occurred_at with 9 fractional digits
P_CHANNEL_VARIANT = 0.005  # channel in another spelling
P_IMPLICIT_TEXT = 0.4  # text messages without message_type


# ---------------------------------------------------------------------------------------------------
# Fake message texts and properties (rendered once as JSON pieces)
# ---------------------------------------------------------------------------------------------------

_TEXTS: dict[str, tuple[str, ...]] = {
    "customer_open": (
        "Bonjour",
        "Bonjour 👋",
        "Hello, I need help with my order",
        "Bonjour, où en est ma commande ?",
        "Je voudrais retourner un article",
        "Quels sont vos horaires d'ouverture ?",
        "Mon code promo ne fonctionne pas",
        "Can I change my delivery address?",
        "J'ai été débité deux fois !!",
        "Bonjour\nJ'ai une question sur ma facture",
        'Le modèle "Veste Alpine" est-il disponible en M ?',
        "hi",
        "Salut, ma commande FR-48213 n'est pas arrivée",
        "Is there a store in Lyon?",
    ),
    "customer_get_started": ("Démarrer", "Get started", "Commencer"),
    "customer_text": (
        "oui",
        "non merci",
        "d'accord",
        "La commande n°FR-48213",
        "Mon email : camille.martin@example.com",
        "Mon numéro est le 06 12 34 56 78",
        "ça ne marche toujours pas 😕",
        "Merci beaucoup !",
        "je ne comprends pas",
        "Where is my parcel?",
        "Taille 42 s'il vous plaît",
        "I'd like a refund",
        "C'est pour un cadeau 🎁",
        "Vous livrez en Belgique ?",
    ),
    "customer_quick_reply": (
        "Suivre ma commande",
        "Retours et remboursements",
        "Nos magasins",
        "Oui",
        "Non",
        "Autre question",
        "Voir les promos",
    ),
    "customer_postback": ("Suivre ma commande", "Voir le produit", "Menu principal", "Ajouter au panier"),
    "customer_attachment": ("photo du colis", "capture d'écran", "facture.pdf"),
    "customer_ask_agent": ("Parler à un conseiller", "Talk to an agent", "Je veux parler à quelqu'un"),
    "customer_campaign_reply": ("Ça m'intéresse", "Voir l'offre", "Stop", "Oui !"),
    "customer_waiting": ("Il y a quelqu'un ?", "Hello?", "Toujours en attente...", "allô ?"),
    "customer_reopen": (
        "Ah, une dernière question",
        "Merci ! Et pour la livraison ?",
        "Sorry, one more thing",
        "En fait ça ne marche pas",
    ),
    "customer_back": (
        "Bonjour, je n'ai jamais eu de réponse à ma demande",
        "Toujours pas de nouvelles de mon dossier ?",
        "Hello, I'm still waiting for an answer about my refund",
    ),
    "customer_thanks": ("Merci, bonne journée !", "merci 🙏", "Thanks!", "Parfait, merci"),
    "customer_followup": (
        "Re, j'ai oublié de demander :",
        "Et aussi, vous faites les retours en magasin ?",
        "Je reviens vers vous, j'ai retrouvé le numéro",
        "One more question",
    ),
    "bot_welcome": (
        "Bonjour ! Je suis Léa, l'assistante virtuelle. Comment puis-je vous aider ?",
        "Hi! I'm the virtual assistant. How can I help you today?",
        "Bienvenue 👋 Choisissez un sujet ci-dessous.",
    ),
    "bot_campaign": (
        "🎉 -20% sur toute la collection ce week-end !",
        "Votre panier vous attend. Besoin d'aide pour finaliser votre commande ?",
        "Nouveautés printemps : découvrez-les en avant-première.",
    ),
    "bot_transfer": (
        "Je vous mets en relation avec un conseiller.",
        "Un conseiller va prendre le relais, merci de patienter.",
        "Let me connect you with an agent.",
    ),
    "bot_sales": (
        "Voici nos meilleures ventes du moment.",
        "Ce produit est disponible en 4 coloris.",
        "Souhaitez-vous ajouter la livraison express ?",
    ),
    "bot_support": (
        "Pouvez-vous me donner votre numéro de commande ?",
        "Votre commande a été expédiée et arrivera sous 48 h.",
        "Pour un retour, rendez-vous sur la page Mes commandes.",
        "Avez-vous essayé de vous reconnecter ?",
    ),
    "bot_other": (
        "Je n'ai pas bien compris, pouvez-vous reformuler ?",
        "Nos magasins sont ouverts de 10 h à 19 h.",
    ),
    "bot_disabled": (
        "Nos conseillers sont indisponibles pour le moment. Nous vous répondrons dès que possible.",
        "Our agents are offline. Please try again during business hours (Mon-Fri 9:00-18:00).",
    ),
    "bot_form": (
        "Avant de vous transférer, quelle est votre adresse e-mail ?",
        "Quel est l'objet de votre demande ?",
    ),
    "agent_greeting": (
        "Bonjour, je suis Karim, je regarde votre demande.",
        "Hello, this is Julie from customer care. How can I help?",
        "Bonjour ! Merci pour votre patience.",
    ),
    "agent": (
        "Je vérifie cela tout de suite.",
        "C'est fait, le remboursement sera visible sous 5 jours.",
        "Pouvez-vous me confirmer votre adresse de livraison ?",
        "Je vous envoie une étiquette de retour par e-mail.",
        "Y a-t-il autre chose que je puisse faire pour vous ?",
        "Your parcel left our warehouse this morning.",
    ),
    "agent_goodbye": (
        "Merci pour votre message, je clôture la conversation. Bonne journée !",
        "Thanks for contacting us, have a great day!",
        "N'hésitez pas à revenir vers nous si besoin. Au revoir !",
    ),
    "agent_note": (
        "Client VIP, geste commercial accordé",
        "Vérifier le double débit avec la compta",
        "Déjà contacté hier pour le même sujet",
        "escalade N2 si pas de retour",
    ),
}

_PROPERTIES: dict[str, tuple[object, ...]] = {
    "web_page": (
        {"page_url": "https://shop.example.com/", "locale": "fr-FR", "device": "desktop"},
        {"page_url": "https://shop.example.com/commande", "locale": "fr-FR", "device": "mobile"},
        {"page_url": "https://shop.example.com/produit/veste-alpine", "locale": "fr-FR"},
        {"page_url": "https://shop.example.com/en/help", "locale": "en-GB", "device": "mobile"},
    ),
    "postback": ({"payload": "ORDER_STATUS"}, {"payload": "GET_STARTED"}, {"payload": "MAIN_MENU"}),
    "attachment": (
        {"attachment_type": "image", "url": "https://cdn.example.com/u/7f3a.jpg", "size_bytes": 184223},
        {"attachment_type": "file", "url": "https://cdn.example.com/u/facture.pdf", "size_bytes": 48211},
    ),
    "quick_replies": (
        {"quick_replies": ["Suivre ma commande", "Retours", "Parler à un conseiller"]},
        {"quick_replies": ["Oui", "Non"]},
    ),
    "handover": ({"queue": "default", "priority": "normal"}, {"queue": "vip", "priority": "high"}),
}

#: unknown top-level fields (rendered as `,"name":value`), names not in the contract
_EXTRA_FIELDS: tuple[tuple[str, object], ...] = (
    ("platform_version", "4.12.0"),
    ("sdk", {"name": "web-widget", "version": "2.3.1"}),
    ("retry_count", 1),
    ("x_trace_id", "9f2c41d07be3a5a1"),
    ("Department", "sales"),  # field names are case-sensitive: an unknown field
    ("is_test", False),
)


def _build_vocab() -> tuple[list[str], dict[str, tuple[int, int]]]:
    flat: list[str] = []
    roles: dict[str, tuple[int, int]] = {}
    for role, items in _TEXTS.items():
        roles[role] = (len(flat), len(items))
        flat.extend(items)
    return flat, roles


_TEXT_VALUES, _TEXT_ROLES = _build_vocab()
_PROP_VALUES: list[str] = []
_PROP_ROLES: dict[str, tuple[int, int]] = {}
for _role, _items in _PROPERTIES.items():
    _PROP_ROLES[_role] = (len(_PROP_VALUES), len(_items))
    _PROP_VALUES.extend(json.dumps(p, ensure_ascii=False, separators=(",", ":")) for p in _items)


# ---------------------------------------------------------------------------------------------------
# Configuration and summary
# ---------------------------------------------------------------------------------------------------


def _check_rate(name: str, value: object, upper: float = 1.0) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number between 0 and {upper}, got {value!r}")
    if not 0.0 <= value <= upper:
        raise ValueError(f"{name} must be between 0 and {upper}, got {value!r}")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")


#: GeneratorConfig's conversation-shape knobs (fractions; command-line flags of the same names)
SHAPE_RATES: tuple[str, ...] = (
    "welcome_first_rate",
    "unanswered_welcome_rate",
    "campaign_rate",
    "campaign_unanswered_share",
    "campaign_late_answer_share",
    "goodbye_rate",
    "goodbye_answer_share",
    "left_open_rate",
    "left_open_return_share",
    "quick_return_rate",
    "return_rate",
)


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. Dirt rates are fractions of distinct valid events (malformed: of valid lines);
    the conversation-shape knobs (SHAPE_RATES) are fractions of what each comment says."""

    landing_dir: Path
    start: date  # first business-local day simulated
    days: int
    seed: int = 42
    conversations_per_day: int = 2000  # mean conversations started per day (weekdays busier)
    timezone: str = "UTC"  # the business's zone: daily and weekly seasonality, business hours
    file_format: FileFormat = "ndjson.gz"
    files_per_day: int = 2  # files per arrival-date folder (fewer when it holds fewer events)
    duplicate_rate: float = 0.01  # share of events delivered a second time
    late_rate: float = 0.02  # share of events arriving 1-5 days after their UTC date
    malformed_rate: float = 0.002  # malformed lines per valid line, in every file
    extra_field_rate: float = 0.01  # share of events with an unknown extra top-level field
    max_late_days: int = 5
    # Conversation shapes (SPEC §3, sessionization version 2). "Rate": of visits or events as said;
    # "share": of the shape just before it.
    #: visits on greeting channels (GREETS_ON_OPEN) that the bot's welcome opens: widgets greet when
    #: opened, so most visits start with it; the rest typed into an open widget or pressed a button
    welcome_first_rate: float = 0.6
    #: of those greetings, nobody answers: opening a widget costs a click, many close it unread
    unanswered_welcome_rate: float = 0.35
    #: visits that are a proactive campaign message (weighted by CAMPAIGN_WEIGHT: mostly messaging
    #: apps); about one contact in twelve gets a broadcast, reminder or cart nudge
    campaign_rate: float = 0.08
    #: of the campaign messages, never answered: broadcast reply rates are typically 20-30%
    campaign_unanswered_share: float = 0.7
    #: of the campaign messages, answered after more than 10 minutes (read hours later); the others
    #: (1 - 0.7 - 0.08 = 22%) are answered within minutes, most within a couple of minutes
    campaign_late_answer_share: float = 0.08
    #: closed tickets the agent replied to, followed by the agent's goodbye seconds after the close (a
    #: closing macro): about half of the agents use one
    goodbye_rate: float = 0.5
    #: of those goodbyes, the customer answers ("merci !") within minutes; most just leave
    goodbye_answer_share: float = 0.25
    #: received handovers nobody ever closes (replied or not): agents forget a few percent of tickets
    left_open_rate: float = 0.04
    #: of the customers of those tickets, come back on that channel after the handover timeout
    #: (1-4 days later): the ticket must not hold their new conversation
    left_open_return_share: float = 0.6
    #: conversations (not closed by an agent) the customer continues after 1-10 minutes of silence:
    #: they came back to the tab, same conversation
    quick_return_rate: float = 0.06
    #: visits after which the customer comes back the same day after more than 10 minutes of silence
    #: (median 35 minutes): a new conversation; about one conversation in seven
    return_rate: float = 0.14

    def __post_init__(self) -> None:
        if isinstance(self.landing_dir, str):
            object.__setattr__(self, "landing_dir", Path(self.landing_dir))
        if not isinstance(self.landing_dir, Path):
            raise ValueError(f"landing_dir must be a path, got {self.landing_dir!r}")
        if isinstance(self.start, str):
            try:
                object.__setattr__(self, "start", date.fromisoformat(self.start))
            except ValueError:
                raise ValueError(f"start must be a date YYYY-MM-DD, got {self.start!r}") from None
        if isinstance(self.start, datetime) or not isinstance(self.start, date):
            raise ValueError(f"start must be a date (not a datetime), got {self.start!r}")
        if self.start.year < 2001 or self.start.year > 9000:
            raise ValueError(f"start must be between 2001 and 9000, got {self.start}")
        _check_int("days", self.days, 1, 3660)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("conversations_per_day", self.conversations_per_day, 1, 2_000_000)
        if not isinstance(self.timezone, str) or not self.timezone:
            raise ValueError(f"timezone must be an IANA time zone name, got {self.timezone!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r} (expected an IANA name)") from None
        if self.file_format not in FILE_FORMATS:
            raise ValueError(
                f"file_format must be one of {', '.join(FILE_FORMATS)}, got {self.file_format!r}"
            )
        _check_int("files_per_day", self.files_per_day, 1, 999)
        _check_rate("duplicate_rate", self.duplicate_rate)
        _check_rate("late_rate", self.late_rate)
        _check_rate("malformed_rate", self.malformed_rate, 0.5)
        _check_rate("extra_field_rate", self.extra_field_rate)
        _check_int("max_late_days", self.max_late_days, 1, 60)
        for name in SHAPE_RATES:
            _check_rate(name, getattr(self, name), 0.9 if name == "return_rate" else 1.0)
        if self.campaign_unanswered_share + self.campaign_late_answer_share > 1.0 + 1e-9:
            raise ValueError(
                "campaign_unanswered_share + campaign_late_answer_share must not exceed 1, got "
                f"{self.campaign_unanswered_share} + {self.campaign_late_answer_share}"
            )

    @property
    def extension(self) -> str:
        return self.file_format

    def conversations_per_visit(self) -> float:
        """Expected conversations per first visit of a day: visits are drawn to match the mean."""
        p_camp = np.minimum(self.campaign_rate * CAMPAIGN_WEIGHT, 1.0)
        p_greet = GREETS_ON_OPEN * (1 - p_camp) * (1 - P_DIRECT_HANDOVER) * self.welcome_first_rate
        silent = p_camp * self.campaign_unanswered_share + p_greet * self.unanswered_welcome_rate
        per_program = float((CHANNEL_SHARE * (1 - silent)).sum())
        # conversations after a close: an answered goodbye, or a reopen
        answered_bye = 0.95 * self.goodbye_rate * self.goodbye_answer_share
        closed = _RECEIVED_PER_CONVERSATION * (1 - self.left_open_rate)
        per_program *= 1 + closed * (answered_bye + (1 - answered_bye) * P_REOPEN)
        return per_program / (1 - self.return_rate)


@dataclass(frozen=True)
class GenerationSummary:
    """What `generate` wrote. Lines are NDJSON lines or Parquet rows."""

    landing_dir: Path
    files: tuple[Path, ...]
    lines_by_arrival_date: dict[date, int]  # every line written into the folder
    events_by_arrival_date: dict[date, int]  # valid event lines, redelivered copies included
    distinct_events: int  # valid events, each counted once
    duplicate_lines: int  # extra copies of valid events (same line again)
    late_events: int  # distinct events whose first delivery is later than their UTC date
    malformed_by_kind: dict[str, int]
    quarantine_reasons: dict[str, int]  # the reason the loader should record (decisions.md R5) -> lines
    total_lines: int
    #: answered visits + answered goodbyes + reopens: what SPEC §3 (version 2, default settings) counts
    simulated_conversations: int
    handover_requests: int
    handover_outcomes: dict[str, int]  # outcome (SPEC §3) -> requests, exact for the generated data
    shapes: dict[str, int] = field(default_factory=dict)  # conversation shapes simulated -> count
    elapsed_seconds: float = field(default=0.0, compare=False)

    def __str__(self) -> str:
        return self.describe()

    @property
    def malformed_lines(self) -> int:
        return sum(self.malformed_by_kind.values())

    @property
    def valid_lines(self) -> int:
        return self.distinct_events + self.duplicate_lines

    def to_dict(self) -> dict[str, object]:
        return {
            "landing_dir": str(self.landing_dir),
            "files": [str(p) for p in self.files],
            "lines_by_arrival_date": {d.isoformat(): n for d, n in self.lines_by_arrival_date.items()},
            "events_by_arrival_date": {d.isoformat(): n for d, n in self.events_by_arrival_date.items()},
            "distinct_events": self.distinct_events,
            "duplicate_lines": self.duplicate_lines,
            "late_events": self.late_events,
            "malformed_by_kind": dict(self.malformed_by_kind),
            "quarantine_reasons": dict(self.quarantine_reasons),
            "total_lines": self.total_lines,
            "simulated_conversations": self.simulated_conversations,
            "handover_requests": self.handover_requests,
            "handover_outcomes": dict(self.handover_outcomes),
            "shapes": dict(self.shapes),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }

    def describe(self) -> str:
        rate = self.total_lines / self.elapsed_seconds if self.elapsed_seconds > 0 else float("nan")
        dates = sorted(self.lines_by_arrival_date)
        span = f"{dates[0]} .. {dates[-1]}" if dates else "-"
        lines = [
            f"wrote {len(self.files)} files, {self.total_lines:,} lines into {self.landing_dir}"
            f" (arrival dates {span}) in {self.elapsed_seconds:.1f} s ({rate:,.0f} lines/s)",
            f"  distinct events {self.distinct_events:,}, duplicate lines {self.duplicate_lines:,},"
            f" late events {self.late_events:,}, malformed lines {self.malformed_lines:,}",
            f"  simulated conversations ~{self.simulated_conversations:,},"
            f" handover requests {self.handover_requests:,} "
            + "("
            + ", ".join(f"{k} {v:,}" for k, v in self.handover_outcomes.items())
            + ")",
        ]
        if self.shapes:
            lines.append("  shapes: " + ", ".join(f"{k} {v:,}" for k, v in self.shapes.items()))
        if self.malformed_by_kind:
            lines.append(
                "  malformed: " + ", ".join(f"{k} {v}" for k, v in sorted(self.malformed_by_kind.items()))
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# Small vectorised helpers
# ---------------------------------------------------------------------------------------------------

_HEX_PAIRS = np.array(
    [[ord(a), ord(b)] for a in "0123456789abcdef" for b in "0123456789abcdef"], dtype=np.uint8
)
_HEX_PAIRS16 = _HEX_PAIRS.view(np.uint16).ravel()  # byte -> its two hex digits, as one uint16
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of uint64 that looks random."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def _seed_key(seed: int, salt: int) -> np.uint64:
    return _mix64(np.array([(seed * 0x9E3779B97F4A7C15 + salt) & (2**64 - 1)], dtype=np.uint64))[0]


def _hex16(x: np.ndarray) -> np.ndarray:
    """(n,) uint64 -> (n, 16) ASCII hex digits (big-endian)."""
    n = len(x)
    return np.take(_HEX_PAIRS16, np.asarray(x, dtype=">u8").view(np.uint8).reshape(n, 8)).view(np.uint8)


def _hex_id(prefix: str, x: np.ndarray) -> list[str]:
    return [prefix + bytes(row).decode() for row in _hex16(x)]


def _table(strings: Sequence[str]) -> np.ndarray:
    """Equal-width ASCII strings -> (k, w) uint8 lookup table."""
    return np.frombuffer("".join(strings).encode(), dtype=np.uint8).reshape(len(strings), -1)


_HH = _table([f"{h:02d}" for h in range(24)])
_MMSS = _table([f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)])
_MSEC = _table([f"{v:03d}" for v in range(1000)])


def _const(text: str, n: int) -> np.ndarray:
    return np.broadcast_to(np.frombuffer(text.encode(), dtype=np.uint8), (n, len(text.encode())))


def _fixed_strings(matrix: np.ndarray) -> pa.Array:
    """(n, w) uint8 matrix of UTF-8 bytes -> large_string array of n strings of w bytes."""
    n, w = matrix.shape
    offsets = np.arange(0, n * w + 1, w, dtype=np.int64) if n else np.zeros(1, np.int64)
    data = np.ascontiguousarray(matrix).reshape(-1)  # zero-copy: the buffer keeps the array alive
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _timestamp_body(ms: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Epoch milliseconds -> (n, 23) bytes `YYYY-MM-DDTHH:MM:SS.mmm` (written into `out` if given)."""
    n = len(ms)
    if out is None:
        out = np.empty((n, 23), dtype=np.uint8)
    days = ms // _MS_PER_DAY
    rem = ms - days * _MS_PER_DAY
    first = int(days.min()) if n else 0
    span = int(days.max()) - first + 1 if n else 0
    dates = _table([(_EPOCH + timedelta(days=first + d)).isoformat() + "T" for d in range(span)])
    out[:, 0:11] = dates[days - first]
    out[:, 11:13] = _HH[rem // 3_600_000]
    out[:, 13] = ord(":")
    out[:, 14:19] = _MMSS[rem // 1000 % 3600]
    out[:, 19] = ord(".")
    out[:, 20:23] = _MSEC[rem % 1000]
    return out


def _lognormal_ms(rng: np.random.Generator, n: int, median_s: float, sigma: float, lo_s: float, hi_s: float):
    x = np.exp(rng.normal(np.log(median_s), sigma, n))
    return (np.clip(x, lo_s, hi_s) * 1000).astype(np.int64)


def _uniform_ms(rng: np.random.Generator, n: int, lo_s: float, hi_s: float) -> np.ndarray:
    return (rng.uniform(lo_s, hi_s, n) * 1000).astype(np.int64)


def _pick(rng: np.random.Generator, role: str, n: int, table: dict[str, tuple[int, int]] = _TEXT_ROLES):
    off, cnt = table[role]
    return (off + rng.integers(0, cnt, n)).astype(np.int16)


def _categorical(rng: np.random.Generator, shares: np.ndarray) -> np.ndarray:
    """Row-wise categorical draws: shares is (n, k) with rows summing to 1."""
    cum = np.cumsum(shares, axis=1)
    u = rng.random(len(shares))[:, None] * cum[:, -1:]
    return (u >= cum).sum(axis=1)


# ---------------------------------------------------------------------------------------------------
# Events as columns
# ---------------------------------------------------------------------------------------------------

_EVENT_COLUMNS: dict[str, type] = {
    "t_ms": np.int64,  # occurred_at, epoch milliseconds (UTC)
    "cust": np.int32,  # index in the customer pool
    "chan": np.int8,  # rendered channel: 0..5 canonical, 6.. CHANNEL_VARIANTS
    "etype": np.int8,
    "sender": np.int8,  # -1 none
    "mtype": np.int8,  # -1 none
    "flow": np.int8,  # -1 none
    "text": np.int16,  # -1 none, else index in _TEXT_VALUES
    "props": np.int16,  # -1 none, else index in _PROP_VALUES
    "dept": np.int8,  # -1 none
    "agent": np.int16,  # -1 none
    "ho": np.int64,  # handover number, -1 none
    "eid": np.uint64,  # event id number (rendered as hex)
    "ts_suffix": np.int8,  # index in TS_SUFFIXES
    "ts_nanos": np.int16,  # -1: milliseconds only, else index in the 6-digit sub-millisecond table
    "extra": np.int8,  # -1 none, else index in _EXTRA_FIELDS
    "arrival": np.int32,  # arrival date, days since epoch
    "is_dup": np.bool_,  # a redelivered copy
    "is_late": np.bool_,  # arrives after its UTC date (first delivery)
}


class _Events:
    """A bag of events as numpy columns (all of the same length)."""

    __slots__ = tuple(_EVENT_COLUMNS)

    def __init__(self, **cols: np.ndarray) -> None:
        for name, dtype in _EVENT_COLUMNS.items():
            setattr(self, name, np.asarray(cols[name], dtype=dtype))

    def __len__(self) -> int:
        return len(self.t_ms)

    def take(self, idx: np.ndarray | slice) -> _Events:
        return _Events(**{name: getattr(self, name)[idx] for name in _EVENT_COLUMNS})

    @staticmethod
    def concat(parts: Sequence[_Events]) -> _Events:
        return _Events(**{name: np.concatenate([getattr(p, name) for p in parts]) for name in _EVENT_COLUMNS})


# ---------------------------------------------------------------------------------------------------
# Customers and agents
# ---------------------------------------------------------------------------------------------------


class _Population:
    """Customers (with primary / secondary channels and a visit propensity) and agents."""

    def __init__(self, seed: int, conversations_per_day: int) -> None:
        size = max(200, 8 * conversations_per_day)
        rng = np.random.default_rng([seed, 0xC0FFEE, size])
        self.size = size
        self.log_weight = rng.normal(0.0, 1.3, size)  # frequent and occasional customers
        self.primary = rng.choice(len(CHANNELS), size=size, p=CHANNEL_SHARE).astype(np.int8)
        other = (self.primary + 1 + rng.integers(0, len(CHANNELS) - 1, size)) % len(CHANNELS)
        self.secondary = np.where(rng.random(size) < P_SECOND_CHANNEL, other, -1).astype(np.int8)
        ids = _mix64(np.arange(size, dtype=np.uint64) ^ _seed_key(seed, 0xC057))  # as in _flush
        self.id_hex = _hex16(ids)  # (size, 16)
        self.busy_until = np.full(size, np.iinfo(np.int64).min // 2, dtype=np.int64)
        self.comeback_at = np.full(size, _NEVER, dtype=np.int64)  # due back after a ticket left open
        self.comeback_chan = np.zeros(size, dtype=np.int8)
        self.n_agents = int(np.clip(conversations_per_day // 40, 6, 400))


# ---------------------------------------------------------------------------------------------------
# Conversation programs
# ---------------------------------------------------------------------------------------------------


class _Program:
    """The slots of a conversation program. A slot holds the rows (conversations) where it happens."""

    _ATTRS = ("etype", "sender", "mtype", "flow", "text", "props", "dept", "agent", "has_ho")

    def __init__(self, n: int) -> None:
        self.n = n
        self.rows: list[np.ndarray] = []
        self.gaps: list[np.ndarray] = []
        self.attrs: dict[str, list[np.ndarray]] = {a: [] for a in self._ATTRS}

    def add(
        self,
        rows: np.ndarray,
        gap,
        etype: int,
        *,
        sender=-1,
        mtype=-1,
        flow=-1,
        text=-1,
        props=-1,
        dept=-1,
        agent=-1,
        handover: bool = False,
    ) -> np.ndarray:
        """Event in each of `rows` (sorted conversation indices), `gap` ms after the row's previous one."""
        m = len(rows)
        self.rows.append(rows)
        self.gaps.append(np.broadcast_to(np.asarray(gap, dtype=np.int64), (m,)))
        values = dict(
            etype=etype,
            sender=sender,
            mtype=mtype,
            flow=flow,
            text=text,
            props=props,
            dept=dept,
            agent=agent,
            has_ho=handover,
        )
        for a in self._ATTRS:
            self.attrs[a].append(np.broadcast_to(np.asarray(values[a], dtype=np.int32), (m,)))
        return rows

    def build(self, start_ms: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """-> (event columns incl. `conv`, in conversation then slot order; each conversation's end)."""
        conv = np.concatenate(self.rows)
        slot = np.concatenate([np.full(len(r), i, dtype=np.int64) for i, r in enumerate(self.rows)])
        order = np.argsort(conv.astype(np.int64) * len(self.rows) + slot, kind="stable")
        conv = conv[order]
        gap = np.maximum(np.concatenate(self.gaps)[order], 1)
        out = {a: np.concatenate(v)[order] for a, v in self.attrs.items()}
        cs = np.cumsum(gap)
        first = np.flatnonzero(np.r_[True, conv[1:] != conv[:-1]])  # every conversation has an event
        group_base = cs[first] - gap[first]
        group = np.repeat(np.arange(len(first)), np.diff(np.r_[first, len(conv)]))
        t = start_ms[conv] + cs - group_base[group]
        out["t_ms"] = t
        out["conv"] = conv
        end = t[np.r_[first[1:] - 1, len(conv) - 1]]
        return out, end


#: the shapes counted in GenerationSummary.shapes (programs, or events where said)
SHAPES: tuple[str, ...] = (
    "welcome_first",  # visits the bot's welcome opens
    "unanswered_welcome",  # ... and nobody answers
    "campaign",  # proactive campaign messages
    "campaign_unanswered",
    "campaign_answered_late",  # answered after more than 10 minutes
    "goodbye",  # agent goodbyes after a close
    "goodbye_answered",
    "reopen",  # the customer writes within 10 minutes after the close (or the goodbye)
    "left_open",  # received handovers never closed
    "left_open_nudge",  # the customer asks again on it hours later (kept by the open ticket)
    "left_open_return",  # the customer comes back after the handover timeout
    "quick_return",  # the customer continues after 1-10 minutes of silence
    "return",  # the customer comes back the same day after more than 10 minutes
)


@dataclass
class _DayStats:
    conversations: int = 0
    handover_requests: int = 0
    outcomes: Counter = field(default_factory=Counter)
    shapes: Counter = field(default_factory=Counter)


def _simulate(
    rng: np.random.Generator,
    cfg: GeneratorConfig,
    pop: _Population,
    cust: np.ndarray,
    chan: np.ndarray,
    start_ms: np.ndarray,
    business: np.ndarray,
    back: np.ndarray,
    ho_base: int,
    stats: _DayStats,
):
    """One program per row (a visit; `back`: the customer comes back about a ticket left open).
    -> (event columns, end time, may the customer come back the same day, rows left open)."""
    n = len(cust)
    P = _Program(n)
    u = lambda m=n: rng.random(m)  # noqa: E731
    where = np.flatnonzero
    thin = lambda rows, p: rows[rng.random(len(rows)) < p]  # noqa: E731

    camp = ~back & (u() < cfg.campaign_rate * CAMPAIGN_WEIGHT[chan])
    direct = ~camp & ~back & (u() < P_DIRECT_HANDOVER[chan])
    greet = GREETS_ON_OPEN[chan] & ~camp & ~direct & (u() < cfg.welcome_first_rate)
    camp_u = u()
    camp_silent = camp & (camp_u < cfg.campaign_unanswered_share)
    camp_late = (
        camp & ~camp_silent & (camp_u < cfg.campaign_unanswered_share + cfg.campaign_late_answer_share)
    )
    greet_silent = greet & ~back & (u() < cfg.unanswered_welcome_rate)
    silent = camp_silent | greet_silent  # bot messages nobody answers: no conversation
    flow = np.where(camp, F_CAMPAIGN, rng.choice(len(FLOW_TYPES), size=n, p=FLOW_SHARE))
    welcome = HAS_WELCOME[chan] & ~direct & ~camp & ~greet & (u() >= 0.03)  # after the customer's opening
    no_answer = ~direct & (u() < P_NO_ANSWER[chan])
    k = np.where(no_answer | direct | silent, 0, np.minimum(rng.geometric(0.42, n), ROUNDS))
    hand = direct | ((k >= 1) & (u() < P_HANDOVER[chan] * HANDOVER_FLOW_FACTOR[flow]))
    shares = np.where(business[:, None], OUTCOME_SHARE_OPEN, OUTCOME_SHARE_CLOSED)
    outcome = np.where(hand, _categorical(rng, shares), -1)
    agent = rng.integers(0, pop.n_agents, n)
    other_agent = np.where(u() < 0.25, rng.integers(0, pop.n_agents, n), agent)
    req_dept = np.where(u() < 0.55, rng.integers(0, len(DEPARTMENTS), n), -1)

    implicit = lambda m: np.where(rng.random(m) < P_IMPLICIT_TEXT, MT_IMPLICIT, MT_TEXT)  # noqa: E731
    flow_text_roles = ("bot_campaign", "bot_transfer", "bot_sales", "bot_support", "bot_other")
    flow_off = np.array([_TEXT_ROLES[r][0] for r in flow_text_roles])
    flow_cnt = np.array([_TEXT_ROLES[r][1] for r in flow_text_roles])

    def bot_reply(rows: np.ndarray, gap_lo: float, gap_hi: float, qr: float) -> np.ndarray:
        """A bot flow message (sometimes without flow_type) in each row."""
        m = len(rows)
        bf = np.where(rng.random(m) < 0.85, flow[rows], -1)
        f = np.where(bf < 0, F_OTHER, bf)
        text = flow_off[f] + (rng.random(m) * flow_cnt[f]).astype(np.int64)
        props = np.where(rng.random(m) < qr, _pick(rng, "quick_replies", m, _PROP_ROLES), -1)
        return P.add(
            rows,
            _uniform_ms(rng, m, gap_lo, gap_hi),
            E_MESSAGE,
            sender=S_BOT,
            mtype=implicit(m),
            flow=bf,
            text=text,
            props=props,
        )

    # proactive campaign message, before the customer's first interaction (if any)
    rows = where(camp)
    m = len(rows)
    P.add(
        rows,
        0,
        E_MESSAGE,
        sender=S_BOT,
        mtype=implicit(m),
        flow=F_CAMPAIGN,
        text=_pick(rng, "bot_campaign", m),
        props=np.where(u(m) < 0.5, _pick(rng, "quick_replies", m, _PROP_ROLES), -1),
    )
    # the welcome the widget sends when the customer opens it
    rows = where(greet)
    m = len(rows)
    P.add(
        rows,
        0,
        E_MESSAGE,
        sender=S_BOT,
        mtype=MT_WELCOME,
        text=_pick(rng, "bot_welcome", m),
        props=np.where(u(m) < 0.7, _pick(rng, "quick_replies", m, _PROP_ROLES), -1),
    )

    # opening customer action: a message, or a direct handover request (nothing in silent visits)
    postback_open = ~camp & ~greet & ~back & np.isin(chan, (1, 5)) & (u() < 0.25)
    has_qr = CUSTOMER_MT_MIX[chan, 1] > 0  # not on SMS
    quick = (camp | greet) & ~back & has_qr & (u() < np.where(camp, 0.6, 0.4))  # one of the bot's buttons
    open_mt = np.where(quick, MT_QUICK_REPLY, np.where(postback_open, MT_POSTBACK, implicit(n)))
    open_text = np.where(
        camp,
        _pick(rng, "customer_campaign_reply", n),
        np.where(
            postback_open,
            _pick(rng, "customer_get_started", n),
            np.where(quick, _pick(rng, "customer_quick_reply", n), _pick(rng, "customer_open", n)),
        ),
    )
    open_text = np.where(back, _pick(rng, "customer_back", n), open_text)
    open_props = np.where(
        postback_open,
        _pick(rng, "postback", n, _PROP_ROLES),
        np.where((chan == 0) & (u() < 0.5), _pick(rng, "web_page", n, _PROP_ROLES), -1),
    )
    open_props = np.where(direct, np.where(u() < 0.3, _pick(rng, "handover", n, _PROP_ROLES), -1), open_props)
    # answers: a greeting within seconds; a campaign within minutes, or after more than 10 minutes
    open_gap = np.where(greet, _lognormal_ms(rng, n, 6, 0.8, 1.5, 180), 0)
    open_gap = np.where(camp, _lognormal_ms(rng, n, 75, 0.9, 5, 570), open_gap)
    open_gap = np.where(camp_late, _lognormal_ms(rng, n, 50 * 60, 1.0, 630, 8 * 3600), open_gap)
    rows = where(~silent)
    P.add(
        rows,
        open_gap[rows],
        np.where(direct, E_REQUESTED, E_MESSAGE)[rows],
        sender=np.where(direct, -1, S_CUSTOMER)[rows],
        mtype=np.where(direct, -1, open_mt)[rows],
        text=np.where(direct, -1, open_text)[rows],
        props=open_props[rows],
        dept=np.where(direct, req_dept, -1)[rows],
        handover=direct[rows],
    )

    # welcome message after the customer's opening, or the bot's first flow message
    rows = where(welcome)
    m = len(rows)
    P.add(
        rows,
        _uniform_ms(rng, m, 0.3, 1.5),
        E_MESSAGE,
        sender=S_BOT,
        mtype=MT_WELCOME,
        text=_pick(rng, "bot_welcome", m),
        props=np.where(u(m) < 0.6, _pick(rng, "quick_replies", m, _PROP_ROLES), -1),
    )
    bot_reply(where(~welcome & ~direct & ~silent), 0.4, 2.5, 0.3)

    # bot flow: customer replies (quick replies, postbacks, texts, attachments) and bot answers
    mt_codes = np.array([MT_TEXT, MT_QUICK_REPLY, MT_POSTBACK, MT_ATTACHMENT])
    mt_roles = ("customer_text", "customer_quick_reply", "customer_postback", "customer_attachment")
    mt_off = np.array([_TEXT_ROLES[r][0] for r in mt_roles])
    mt_cnt = np.array([_TEXT_ROLES[r][1] for r in mt_roles])
    ask_agent_mt = np.where(CUSTOMER_MT_MIX[:, 1] > 0, MT_QUICK_REPLY, MT_TEXT)
    for r in range(ROUNDS):
        rows = where(k > r)
        m = len(rows)
        if m == 0:
            break
        asks_agent = hand[rows] & (k[rows] == r + 1)
        kind = _categorical(rng, CUSTOMER_MT_MIX[chan[rows]])
        mt = np.where(asks_agent, ask_agent_mt[chan[rows]], mt_codes[kind])
        mt = np.where((mt == MT_TEXT) & (u(m) < P_IMPLICIT_TEXT), MT_IMPLICIT, mt)
        text = np.where(
            asks_agent,
            _pick(rng, "customer_ask_agent", m),
            mt_off[kind] + (u(m) * mt_cnt[kind]).astype(np.int64),
        )
        props = np.where(
            kind == 2,
            _pick(rng, "postback", m, _PROP_ROLES),
            np.where(kind == 3, _pick(rng, "attachment", m, _PROP_ROLES), -1),
        )
        P.add(
            rows,
            _lognormal_ms(rng, m, 14, 0.9, 1.5, 540),
            E_MESSAGE,
            sender=S_CUSTOMER,
            mtype=mt,
            text=text,
            props=np.where(asks_agent, -1, props),
        )
        bot_reply(thin(rows[~asks_agent], 0.95), 0.4, 2.5, 0.3)

    # handover request after the flow
    requested = where(hand & ~direct)
    rows = thin(requested, 0.75)
    m = len(rows)
    P.add(
        rows,
        _uniform_ms(rng, m, 0.5, 2.0),
        E_MESSAGE,
        sender=S_BOT,
        mtype=implicit(m),
        flow=F_TRANSFER,
        text=_pick(rng, "bot_transfer", m),
    )
    m = len(requested)
    P.add(
        requested,
        _uniform_ms(rng, m, 0.3, 20),
        E_REQUESTED,
        dept=req_dept[requested],
        props=np.where(u(m) < 0.2, _pick(rng, "handover", m, _PROP_ROLES), -1),
        handover=True,
    )

    # unsuccessful outcomes
    def bot_says(rows: np.ndarray, role: str, lo: float, hi: float) -> None:
        m = len(rows)
        P.add(
            rows,
            _uniform_ms(rng, m, lo, hi),
            E_MESSAGE,
            sender=S_BOT,
            mtype=implicit(m),
            flow=F_TRANSFER,
            text=_pick(rng, role, m),
        )

    disabled = where(outcome == O_DISABLED)
    P.add(disabled, _uniform_ms(rng, len(disabled), 0.2, 1.5), E_DISABLED, handover=True)
    bot_says(thin(disabled, 0.85), "bot_disabled", 0.3, 1.0)
    incomplete = where(outcome == O_INCOMPLETE)
    bot_says(thin(incomplete, 0.75), "bot_form", 0.5, 2.0)
    P.add(incomplete, _lognormal_ms(rng, len(incomplete), 90, 0.8, 20, 540), E_INCOMPLETE, handover=True)
    cancelled = where(outcome == O_CANCELLED)
    P.add(cancelled, _lognormal_ms(rng, len(cancelled), 40, 1.0, 3, 540), E_CANCELLED, handover=True)

    # successful: received in the inbox, queue wait (heavy tail), agent replies, notes, close, reopen
    rec = where(outcome == O_SUCCESSFUL)
    m = len(rec)
    P.add(rec, _uniform_ms(rng, m, 0.15, 3.0), E_RECEIVED, handover=True)
    wait = _lognormal_ms(rng, m, np.where(business[rec], 100, 200), 1.25, 5, 3 * 3600)
    pos = np.zeros(m)  # position inside the wait, as a fraction of it
    sel = np.flatnonzero((wait > 90_000) & (u(m) < 0.45))  # the customer asks whether someone is there
    frac = rng.uniform(0.3, 0.7, len(sel))
    P.add(
        rec[sel],
        (frac * wait[sel]).astype(np.int64),
        E_MESSAGE,
        sender=S_CUSTOMER,
        mtype=implicit(len(sel)),
        text=_pick(rng, "customer_waiting", len(sel)),
    )
    pos[sel] = frac
    sel = np.flatnonzero(u(m) < 0.05)  # an internal note before the first reply (not a reply)
    frac = rng.uniform(0.75, 0.95, len(sel))
    P.add(
        rec[sel],
        ((frac - pos[sel]) * wait[sel]).astype(np.int64),
        E_MESSAGE,
        sender=S_AGENT,
        mtype=MT_NOTE,
        text=_pick(rng, "agent_note", len(sel)),
        agent=other_agent[rec[sel]],
        handover=True,
    )
    pos[sel] = frac
    replied = u(m) >= 0.05
    n_agent = 1 + rng.binomial(AGENT_ROUNDS - 1, 0.35, m)
    first_gap = ((1.0 - pos) * wait).astype(np.int64)
    for j in range(AGENT_ROUNDS):
        sel = np.flatnonzero(replied & (n_agent > j))
        rows = rec[sel]
        m2 = len(rows)
        gap = first_gap[sel] if j == 0 else _lognormal_ms(rng, m2, 45, 0.9, 5, 600)
        P.add(
            rows,
            gap,
            E_MESSAGE,
            sender=S_AGENT,
            mtype=implicit(m2),
            text=_pick(rng, "agent_greeting" if j == 0 else "agent", m2),
            agent=agent[rows],
            handover=True,
        )
        notes = thin(rows, 0.04)
        P.add(
            notes,
            _uniform_ms(rng, len(notes), 5, 90),
            E_MESSAGE,
            sender=S_AGENT,
            mtype=MT_NOTE,
            text=_pick(rng, "agent_note", len(notes)),
            agent=other_agent[notes],
            handover=True,
        )
        answers = rows[(n_agent[sel] > j + 1) | (u(m2) < 0.55)]
        m3 = len(answers)
        attach = u(m3) < CUSTOMER_MT_MIX[chan[answers], 3] * 1.5
        P.add(
            answers,
            _lognormal_ms(rng, m3, 25, 1.0, 2, 1800),
            E_MESSAGE,
            sender=S_CUSTOMER,
            mtype=np.where(attach, MT_ATTACHMENT, implicit(m3)),
            text=np.where(attach, _pick(rng, "customer_attachment", m3), _pick(rng, "customer_text", m3)),
            props=np.where(attach, _pick(rng, "attachment", m3, _PROP_ROLES), -1),
        )
    left_open_mask = u(m) < cfg.left_open_rate
    left_open = rec[left_open_mask]
    closed = rec[~left_open_mask]
    m = len(closed)
    rd = req_dept[closed]
    du = u(m)
    other_dept = (rd + 1 + rng.integers(0, len(DEPARTMENTS) - 1, m)) % len(DEPARTMENTS)
    close_dept = np.where(
        rd >= 0,
        np.where(du < 0.75, rd, np.where(du < 0.90, other_dept, -1)),
        np.where(du < 0.65, rng.integers(0, len(DEPARTMENTS), m), -1),
    )
    closer = np.where(u(m) < 0.1, other_agent[closed], agent[closed])
    P.add(
        closed,
        _lognormal_ms(rng, m, 120, 1.1, 10, 3600),
        E_CLOSED,
        agent=closer,
        dept=close_dept,
        handover=True,
    )
    # the agent's goodbye right after the close (on tickets they replied to); it opens a stretch of its
    # own, a conversation only when the customer answers it
    bye_mask = replied[~left_open_mask] & (u(m) < cfg.goodbye_rate)
    bye = closed[bye_mask]
    m2 = len(bye)
    P.add(
        bye,
        _uniform_ms(rng, m2, 0.5, 6.0),
        E_MESSAGE,
        sender=S_AGENT,
        mtype=implicit(m2),
        text=_pick(rng, "agent_goodbye", m2),
        agent=closer[bye_mask],
        handover=True,
    )
    thanks = thin(bye, cfg.goodbye_answer_share)
    m2 = len(thanks)
    P.add(
        thanks,
        _lognormal_ms(rng, m2, 20, 0.9, 2, 300),
        E_MESSAGE,
        sender=S_CUSTOMER,
        mtype=implicit(m2),
        text=_pick(rng, "customer_thanks", m2),
    )
    # a reopen within 10 minutes after the close (or the unanswered goodbye)
    reopen = thin(np.setdiff1d(closed, thanks), P_REOPEN)
    m = len(reopen)
    P.add(
        reopen,
        _uniform_ms(rng, m, 10, 590),
        E_MESSAGE,
        sender=S_CUSTOMER,
        mtype=implicit(m),
        text=_pick(rng, "customer_reopen", m),
    )
    bot_reply(thin(reopen, 0.6), 0.4, 2.0, 0.0)
    # a ticket nobody closes: the customer sometimes asks again hours later (the open ticket holds it)
    nudge = thin(left_open, P_LEFT_OPEN_NUDGE)
    m = len(nudge)
    P.add(
        nudge,
        _lognormal_ms(rng, m, 2 * 3600, 0.8, 15 * 60, 12 * 3600),
        E_MESSAGE,
        sender=S_CUSTOMER,
        mtype=implicit(m),
        text=_pick(rng, "customer_waiting", m),
    )

    # after an unsuccessful handover the customer sometimes writes again, and the bot answers
    failed = np.union1d(np.union1d(cancelled, disabled), incomplete)
    again = thin(failed, 0.25)
    m = len(again)
    P.add(
        again,
        _lognormal_ms(rng, m, 40, 1.0, 3, 540),
        E_MESSAGE,
        sender=S_CUSTOMER,
        mtype=implicit(m),
        text=_pick(rng, "customer_text", m),
    )
    bot_reply(thin(again, 0.8), 0.4, 2.0, 0.0)

    # the customer continues after 1-10 minutes of silence (not after an agent's ticket): same conversation
    quick_back = thin(np.setdiff1d(where(~silent), rec), cfg.quick_return_rate)
    m = len(quick_back)
    P.add(
        quick_back,
        _uniform_ms(rng, m, 60, 590),
        E_MESSAGE,
        sender=S_CUSTOMER,
        mtype=implicit(m),
        text=_pick(rng, "customer_followup", m),
    )
    bot_reply(thin(quick_back, 0.8), 0.4, 2.5, 0.3)

    cols, end = P.build(start_ms)
    conv = cols.pop("conv")
    has_ho = cols.pop("has_ho").astype(bool)
    cols["ho"] = np.where(has_ho, ho_base + conv, -1)
    cols["cust"] = cust[conv]
    cols["chan"] = chan[conv]

    stats.conversations += n - int(silent.sum()) + len(thanks) + len(reopen)
    stats.handover_requests += int(hand.sum())
    stats.outcomes.update(Counter(outcome[hand].tolist()))
    for name, count in (
        ("welcome_first", greet.sum()),
        ("unanswered_welcome", greet_silent.sum()),
        ("campaign", camp.sum()),
        ("campaign_unanswered", camp_silent.sum()),
        ("campaign_answered_late", camp_late.sum()),
        ("goodbye", len(bye)),
        ("goodbye_answered", len(thanks)),
        ("reopen", len(reopen)),
        ("left_open", len(left_open)),
        ("left_open_nudge", len(nudge)),
        ("quick_return", len(quick_back)),
    ):
        stats.shapes[name] += int(count)
    may_return = np.ones(n, dtype=bool)
    may_return[left_open] = False
    return cols, end, may_return, left_open


def _local_hour_starts(day: date, tz: ZoneInfo) -> np.ndarray:
    """UTC epoch ms of local hh:00 on `day`, for hh in 0..23."""
    return np.array(
        [int(datetime(day.year, day.month, day.day, h, tzinfo=tz).timestamp()) * 1000 for h in range(24)],
        dtype=np.int64,
    )


def _simulate_day(
    cfg: GeneratorConfig, pop: _Population, day: date, stats: _DayStats
) -> dict[str, np.ndarray]:
    """All events of the conversations started on local `day` (program order, not time order)."""
    absday = (day - _EPOCH).days
    rng = np.random.default_rng([cfg.seed, absday, 1])
    tz = ZoneInfo(cfg.timezone)
    weekday = day.weekday()

    mean = cfg.conversations_per_day * WEEKDAY_FACTOR[weekday] * math.exp(rng.normal(0.0, 0.06))
    n_visits = min(int(rng.poisson(mean / cfg.conversations_per_visit())), pop.size // 2)
    day_lo = _local_hour_starts(day, tz)
    nxt = day + timedelta(days=1)
    day_hi = int(datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).timestamp()) * 1000
    # customers of a ticket left open, due back today (after the handover timeout)
    due = np.flatnonzero(pop.comeback_at < day_hi).astype(np.int32)
    if n_visits == 0 and len(due) == 0:
        return {}

    # who comes (without replacement: Gumbel top-k on the customers' propensities)
    keys = pop.log_weight + rng.gumbel(size=pop.size)
    keys[pop.comeback_at != _NEVER] = -np.inf  # their next visit is that return
    cust = np.sort(np.argpartition(-keys, n_visits - 1)[:n_visits]).astype(np.int32) if n_visits else due[:0]
    rng.shuffle(cust)
    use_second = (pop.secondary[cust] >= 0) & (rng.random(n_visits) < P_USE_SECOND_CHANNEL)
    chan = np.where(use_second, pop.secondary[cust], pop.primary[cust]).astype(np.int64)

    # when: local hour profile of the weekday, converted with the zone's rules of that day
    profile = HOURLY_WEEKEND if weekday >= 5 else HOURLY_WEEKDAY
    hour = rng.choice(24, size=n_visits, p=profile / profile.sum())
    start = day_lo[hour] + rng.integers(0, 3_600_000, n_visits)
    cust = np.concatenate([cust, due])
    chan = np.concatenate([chan, pop.comeback_chan[due].astype(np.int64)])
    start = np.concatenate([start, np.maximum(pop.comeback_at[due], day_lo[0])])
    back = np.r_[np.zeros(n_visits, bool), np.ones(len(due), bool)]
    pop.comeback_at[due] = _NEVER
    stats.shapes["left_open_return"] += len(due)
    # a customer still busy from yesterday comes back later
    start = np.maximum(start, pop.busy_until[cust] + _uniform_ms(rng, len(cust), 11 * 60, 40 * 60))

    noon = datetime(day.year, day.month, day.day, 12, tzinfo=tz)
    offset_ms = int(noon.utcoffset().total_seconds()) * 1000  # type: ignore[union-attr]
    is_weekday = weekday < 5

    parts: list[dict[str, np.ndarray]] = []
    ho_base = 0
    while len(cust):
        local_hour = (start + offset_ms) // 3_600_000 % 24
        business = is_weekday & (local_hour >= BUSINESS_HOURS[0]) & (local_hour < BUSINESS_HOURS[1])
        cols, end, may_return, left_open = _simulate(
            rng, cfg, pop, cust, chan, start, business, back, ho_base, stats
        )
        ho_base += len(cust)
        parts.append(cols)
        # a ticket left open: other visits on its thread wait for the handover timeout (within it the
        # open ticket would hold them, SPEC §3), and some customers come back on it after the timeout
        busy = end.copy()
        busy[left_open] += HANDOVER_TIMEOUT_MS + 60_000
        np.maximum.at(pop.busy_until, cust, busy)
        returning = left_open[rng.random(len(left_open)) < cfg.left_open_return_share]
        delay = _lognormal_ms(rng, len(returning), 10 * 3600, 0.9, 5 * 60, 3 * 86_400)
        pop.comeback_at[cust[returning]] = end[returning] + HANDOVER_TIMEOUT_MS + delay
        pop.comeback_chan[cust[returning]] = chan[returning]
        # the customer comes back the same day after more than 10 minutes of silence
        again = may_return & (rng.random(len(cust)) < cfg.return_rate)
        stats.shapes["return"] += int(again.sum())
        cust, chan = cust[again], chan[again]
        back = np.zeros(len(cust), dtype=bool)
        start = end[again] + _lognormal_ms(rng, len(cust), 35 * 60, 0.9, 630, 6 * 3600)

    cols = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    ho = cols["ho"]
    key = _seed_key(cfg.seed, 0x40)
    cols["ho"] = np.where(ho >= 0, ((absday << 30) | np.maximum(ho, 0)).astype(np.int64), -1)
    mixed = _mix64(cols["ho"].astype(np.uint64) ^ key) >> np.uint64(1)  # 63 bits: never the -1 sentinel
    cols["ho"] = np.where(ho >= 0, mixed.astype(np.int64), -1)
    return cols


def _finish_day(cfg: GeneratorConfig, day: date, cols: dict[str, np.ndarray]) -> _Events:
    """Ids, rendering choices and deliveries (late arrivals, duplicate copies) of a day's events."""
    absday = (day - _EPOCH).days
    rng = np.random.default_rng([cfg.seed, absday, 2])
    n = len(cols["t_ms"])
    if n >= _MAX_EVENTS_PER_DAY:
        raise ValueError(f"too many events on {day} ({n}); lower conversations_per_day")
    idx = np.arange(n, dtype=np.uint64) | np.uint64(absday << 28)
    eid = _mix64(idx ^ _seed_key(cfg.seed, 0xE1D))

    chan = cols["chan"].astype(np.int64)
    variant = rng.random(n) < P_CHANNEL_VARIANT
    chan = np.where(variant, len(CHANNELS) + 2 * chan + rng.integers(0, 2, n), chan)
    suffix = np.where(rng.random(n) < P_OFFSET, rng.integers(1, len(TS_SUFFIXES), n), 0)
    nanos = np.where(rng.random(n) < P_NANOS, rng.integers(0, len(_SUBMS), n), -1)
    extra = np.where(rng.random(n) < cfg.extra_field_rate, rng.integers(0, len(_EXTRA_FIELDS), n), -1)

    utc_day = cols["t_ms"] // _MS_PER_DAY
    late = rng.random(n) < cfg.late_rate
    delay = rng.choice(np.arange(1, cfg.max_late_days + 1), size=n, p=_late_delay_shares(cfg.max_late_days))
    arrival = utc_day + np.where(late, delay, 0)

    ev = _Events(
        **{k: v for k, v in cols.items() if k in _EVENT_COLUMNS and k != "chan"},
        chan=chan,
        eid=eid,
        ts_suffix=suffix,
        ts_nanos=nanos,
        extra=extra,
        arrival=arrival,
        is_dup=np.zeros(n, bool),
        is_late=late,
    )
    dup = np.flatnonzero(rng.random(n) < cfg.duplicate_rate)
    if len(dup):
        copies = ev.take(dup)
        later = rng.random(len(dup)) < 0.4
        copies.arrival = copies.arrival + np.where(later, rng.integers(1, 4, len(dup)), 0).astype(np.int32)
        copies.is_dup[:] = True
        copies.is_late[:] = False
        ev = _Events.concat([ev, copies])
    return ev


def _late_delay_shares(max_days: int) -> np.ndarray:
    w = 0.55 ** np.arange(max_days)
    return w / w.sum()


# sub-millisecond digits used for 9-digit fractions (fixed table, so rendering is deterministic)
_SUBMS: tuple[str, ...] = tuple(f"{v:06d}" for v in np.random.default_rng(0x5EC).integers(0, 1_000_000, 997))


# ---------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------


def _json_piece(key: str, value: object) -> str:
    return "," + json.dumps(key) + ":" + json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_EMPTY = pa.scalar("", pa.large_string())
_CHANNEL_VALUES: list[str] = list(CHANNELS) + [v for pair in CHANNEL_VARIANTS for v in pair]


class _Renderer:
    """Pre-rendered JSON pieces of every value a line may hold; lines are 7 pieces joined."""

    def __init__(self, pop: _Population) -> None:
        self.pop = pop
        agents = [f"agt_{i:04d}" for i in range(pop.n_agents)]
        self.agent_ids = agents
        self.values: dict[str, list[str | None]] = {
            "channel": [None] + _CHANNEL_VALUES,
            "event_type": [None] + list(EVENT_TYPES),
            "sender": [None] + list(SENDERS),
            "message_type": [None] + list(MESSAGE_TYPES),
            "agent_id": [None] + agents,
            "department": [None] + list(DEPARTMENTS),
            "flow_type": [None] + list(FLOW_TYPES),
            "text": [None] + _TEXT_VALUES,
            "properties": [None] + _PROP_VALUES,
        }

        def pieces(name: str) -> list[str]:
            if name == "properties":
                return [""] + [f',"properties":{v}' for v in _PROP_VALUES]
            return ["" if v is None else _json_piece(name, v) for v in self.values[name]]

        self.sizes = {name: len(values) for name, values in self.values.items()}
        # compound dictionaries: one code per group of columns
        ts_tail = [sub + suffix + '"' for sub in [""] + list(_SUBMS) for suffix in TS_SUFFIXES]
        self.ts_tail = pa.array(ts_tail, pa.large_string())  # code: (ts_nanos + 1) * 7 + ts_suffix
        self.kinds = pa.array(
            [
                c + e + s + m
                for c in pieces("channel")
                for e in pieces("event_type")
                for s in pieces("sender")
                for m in pieces("message_type")
            ],
            pa.large_string(),
        )
        self.routing = pa.array(
            [
                a + d + f
                for a in pieces("agent_id")
                for d in pieces("department")
                for f in pieces("flow_type")
            ],
            pa.large_string(),
        )
        self.content = pa.array(
            [t + p for t in pieces("text") for p in pieces("properties")], pa.large_string()
        )
        self.ending = pa.array([""] + [_json_piece(k, v) for k, v in _EXTRA_FIELDS], pa.large_string())
        self.ending = pc.binary_join_element_wise(self.ending, pa.scalar("}\n", pa.large_string()), _EMPTY)

    def _code(self, *parts: tuple[str, np.ndarray]) -> pa.Array:
        code = np.zeros(len(parts[0][1]), dtype=np.int64)
        for name, values in parts:
            code = code * self.sizes[name] + (values.astype(np.int64) + 1)
        return pa.array(code.astype(np.int32))

    def ndjson(self, ev: _Events) -> pa.Array:
        """One line per event, each ending with a newline (large_string)."""
        n = len(ev)
        head = _assemble(
            n,
            ('{"event_id":"evt_', _hex16(ev.eid)),
            ('","customer_id":"cus_', self.pop.id_hex[ev.cust]),
            ('","occurred_at":"', _timestamp_body(ev.t_ms + TS_OFFSET_MINUTES[ev.ts_suffix] * 60_000)),
        )
        has_ho = ev.ho >= 0
        handover = _assemble(
            int(has_ho.sum()), (',"handover_id":"ho_', _hex16(ev.ho[has_ho].astype(np.uint64))), ('"', None)
        )
        ts_code = pa.array(
            ((ev.ts_nanos.astype(np.int32) + 1) * len(TS_SUFFIXES) + ev.ts_suffix).astype(np.int32)
        )
        parts = [
            _fixed_strings(head),
            self.ts_tail.take(ts_code),
            self.kinds.take(
                self._code(
                    ("channel", ev.chan),
                    ("event_type", ev.etype),
                    ("sender", ev.sender),
                    ("message_type", ev.mtype),
                )
            ),
            _scatter_fixed(handover, has_ho),
            self.routing.take(
                self._code(("agent_id", ev.agent), ("department", ev.dept), ("flow_type", ev.flow))
            ),
            self.content.take(self._code(("text", ev.text), ("properties", ev.props))),
            self.ending.take(pa.array(ev.extra.astype(np.int32) + 1)),
        ]
        return pc.binary_join_element_wise(*parts, _EMPTY)

    def _column(self, name: str, codes: np.ndarray) -> pa.Array:
        return pa.array(self.values[name], pa.string()).take(pa.array(codes.astype(np.int32) + 1))

    def table(self, ev: _Events, with_extra: bool) -> pa.Table:
        """Parquet rows: the contract's columns as strings (`properties` as a JSON string)."""
        n = len(ev)
        suffix = pa.array([sub + s for sub in [""] + list(_SUBMS) for s in TS_SUFFIXES], pa.string())
        ts_code = ((ev.ts_nanos.astype(np.int32) + 1) * len(TS_SUFFIXES) + ev.ts_suffix).astype(np.int32)
        occurred = pc.binary_join_element_wise(
            _fixed_strings(_timestamp_body(ev.t_ms + TS_OFFSET_MINUTES[ev.ts_suffix] * 60_000)).cast(
                pa.string()
            ),
            suffix.take(pa.array(ts_code)),
            "",
        )
        ids = lambda prefix, matrix: _fixed_strings(  # noqa: E731
            np.concatenate([_const(prefix, n), matrix], axis=1)
        ).cast(pa.string())
        has_ho = ev.ho >= 0
        data: dict[str, pa.Array] = {
            "event_id": ids("evt_", _hex16(ev.eid)),
            "occurred_at": occurred,
            "customer_id": ids("cus_", self.pop.id_hex[ev.cust]),
            "channel": self._column("channel", ev.chan),
            "event_type": self._column("event_type", ev.etype),
            "sender": self._column("sender", ev.sender),
            "message_type": self._column("message_type", ev.mtype),
            "handover_id": pc.if_else(
                pa.array(has_ho),
                ids("ho_", _hex16(np.maximum(ev.ho, 0).astype(np.uint64))),
                pa.scalar(None, pa.string()),
            ),
            "agent_id": self._column("agent_id", ev.agent),
            "department": self._column("department", ev.dept),
            "flow_type": self._column("flow_type", ev.flow),
            "text": self._column("text", ev.text),
            "properties": self._column("properties", ev.props),
        }
        if with_extra:
            # an unknown extra column, set on the events that carry an extra field
            data["platform_version"] = pa.array([None, "4.12.0"], pa.string()).take(
                pa.array((ev.extra >= 0).astype(np.int32))
            )
        return pa.table(data)


def _assemble(n: int, *parts: tuple[str, np.ndarray | None]) -> np.ndarray:
    """(n, w) bytes: each part is a constant prefix followed by a (n, k) byte matrix (or nothing)."""
    width = sum(len(c.encode()) + (0 if m is None else m.shape[1]) for c, m in parts)
    out = np.empty((n, width), dtype=np.uint8)
    at = 0
    for const, matrix in parts:
        raw = np.frombuffer(const.encode(), dtype=np.uint8)
        out[:, at : at + len(raw)] = raw
        at += len(raw)
        if matrix is not None:
            out[:, at : at + matrix.shape[1]] = matrix
            at += matrix.shape[1]
    return out


def _scatter_fixed(matrix: np.ndarray, present: np.ndarray) -> pa.Array:
    """Rows of `matrix` (one per `present` row, same width) as strings; other rows empty."""
    n = len(present)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(present.astype(np.int64) * matrix.shape[1], out=offsets[1:])
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(matrix))
    )


# ---------------------------------------------------------------------------------------------------
# Malformed lines (decisions.md R5), built in Python: a few per file
# ---------------------------------------------------------------------------------------------------

#: kind -> formats it can occur in ("ndjson" covers both ndjson and ndjson.gz)
MALFORMED_KINDS: dict[str, tuple[str, ...]] = {
    "invalid_utf8": ("ndjson",),
    "empty_line": ("ndjson",),
    "invalid_json": ("ndjson",),
    "json_not_object": ("ndjson",),
    "missing_field": ("ndjson", "parquet"),
    "invalid_type": ("ndjson",),
    "invalid_timestamp": ("ndjson", "parquet"),
    "timestamp_without_offset": ("ndjson", "parquet"),
    "timestamp_out_of_range": ("ndjson", "parquet"),
    "unknown_event_type": ("ndjson", "parquet"),
    "missing_sender": ("ndjson", "parquet"),
    "invalid_sender": ("ndjson", "parquet"),
    "missing_handover_id": ("ndjson", "parquet"),
}

_REQUIRED = ("event_id", "occurred_at", "customer_id", "channel", "event_type")


def _malformed_kinds(file_format: str) -> tuple[str, ...]:
    family = "parquet" if file_format == "parquet" else "ndjson"
    return tuple(k for k, formats in MALFORMED_KINDS.items() if family in formats)


def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _malformed_record(
    kind: str,
    variant: int,
    rng: np.random.Generator,
    arrival: date,
    event_id: str,
    customer_id: str,
    agent_id: str,
    ho_id: str,
) -> tuple[object, str]:
    """-> (record: a dict for the JSON writers, or raw bytes; expected quarantine reason)."""
    day_ms = (arrival - _EPOCH).days * _MS_PER_DAY
    t = _iso_ms(day_ms + int(rng.integers(0, _MS_PER_DAY)))
    channel = CHANNELS[int(rng.integers(0, len(CHANNELS)))]
    base: dict[str, object] = {
        "event_id": event_id,
        "occurred_at": t,
        "customer_id": customer_id,
        "channel": channel,
        "event_type": "message",
        "sender": "customer",
        "message_type": "text",
        "text": _TEXT_VALUES[int(rng.integers(0, len(_TEXT_VALUES)))],
    }
    handover_event = {
        "event_id": event_id,
        "occurred_at": t,
        "customer_id": customer_id,
        "channel": channel,
        "event_type": "handover_received",
        "handover_id": ho_id,
    }
    compact = lambda rec: json.dumps(rec, ensure_ascii=False, separators=(",", ":"))  # noqa: E731
    if kind == "invalid_utf8":
        line = compact({**base, "text": "@@"}).encode().replace(b"@@", b"caf\xe9 cr\xe8me \xff")
        return line, "invalid_utf8"
    if kind == "empty_line":
        return b"", "empty_line"
    if kind == "invalid_json":
        good = compact(base)
        options = (good[: len(good) // 2], good[:-1] + ",}", good.replace('"', "'"), "event_id=" + event_id)
        return options[variant % len(options)].encode(), "invalid_json"
    if kind == "json_not_object":
        options = ("[" + compact(base) + "]", '["message",1]', '"' + event_id + '"', "42", "null")
        return options[variant % len(options)].encode(), "invalid_json"
    if kind == "missing_field":
        name = _REQUIRED[variant % len(_REQUIRED)]
        style = (variant // len(_REQUIRED)) % 3
        rec = dict(base)
        if style == 0:
            del rec[name]
        else:
            rec[name] = None if style == 1 else "  "
        return rec, f"missing_field:{name}"
    if kind == "invalid_type":
        options: tuple[tuple[str, object, dict[str, object]], ...] = (
            ("customer_id", 48213, base),
            ("occurred_at", day_ms + 3_600_000, base),
            ("channel", ["web"], base),
            ("text", 42, base),
            ("properties", "not an object", base),
            ("properties", [1, 2], base),
            ("sender", 1, base),
            ("handover_id", 1234, handover_event),
            ("department", True, {**handover_event, "event_type": "conversation_closed"}),
        )
        name, value, template = options[variant % len(options)]
        return {**template, name: value}, f"invalid_type:{name}"
    if kind == "invalid_timestamp":
        d = arrival.isoformat()
        options_ts = (
            "yesterday",
            f"{arrival.year}-02-30T10:00:00Z",
            f"{d}T25:61:00Z",
            arrival.strftime("%d/%m/%Y %H:%M"),
            f"{d}T10:15:00+2",
            "1741417199",
        )
        return {**base, "occurred_at": options_ts[variant % len(options_ts)]}, "invalid_timestamp"
    if kind == "timestamp_without_offset":
        return {**base, "occurred_at": t.rstrip("Z")}, "invalid_timestamp"
    if kind == "timestamp_out_of_range":
        options_ts = (
            "1999-12-31T23:59:59Z",
            "9999-12-31T23:59:59Z",
            "1970-01-01T00:00:00Z",
            (arrival + timedelta(days=5)).isoformat() + "T08:00:00Z",
        )
        return {**base, "occurred_at": options_ts[variant % len(options_ts)]}, "timestamp_out_of_range"
    if kind == "unknown_event_type":
        options_et = ("typing_started", "MESSAGE", "handover_accepted", "conversation_opened", "Message ")
        return {**base, "event_type": options_et[variant % len(options_et)]}, "unknown_event_type"
    if kind == "missing_sender":
        rec = dict(base)
        if variant % 3 == 0:
            del rec["sender"]
        else:
            rec["sender"] = None
        return rec, "missing_field:sender"
    if kind == "invalid_sender":
        options_s = ("Customer", "system", "user", "AGENT")
        return {**base, "sender": options_s[variant % len(options_s)]}, "invalid_sender"
    if kind == "missing_handover_id":
        event_type = ("handover_received", "conversation_closed", "handover_requested", "handover_cancelled")[
            variant % 4
        ]
        rec = {k: v for k, v in handover_event.items() if k != "handover_id"}
        rec["event_type"] = event_type
        if event_type == "conversation_closed":
            rec["agent_id"] = agent_id
        if variant % 2:
            rec["handover_id"] = None
        return rec, "missing_handover_id"
    raise ValueError(f"unknown malformed kind {kind!r}")


# ---------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------

_FILE_RE = re.compile(r"^events-(\d+)\.")


def _next_file_number(folder: Path) -> int:
    highest = 0
    if folder.is_dir():
        for p in folder.iterdir():
            m = _FILE_RE.match(p.name)
            if m:
                highest = max(highest, int(m.group(1)))
    return highest + 1


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_ndjson(path: Path, lines: pa.Array, inserts: list[tuple[int, bytes]], gzip: bool) -> None:
    """Write the lines' bytes, with `inserts` (before line i, raw line without newline) spliced in."""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    data = memoryview(lines.buffers()[2])

    def segments():
        prev = int(offsets[0])
        for line_no, raw in inserts:
            cut = int(offsets[line_no])
            yield data[prev:cut]
            yield raw + b"\n"
            prev = cut
        yield data[prev : int(offsets[-1])]

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            if gzip:
                # one gzip member, header without mtime (reproducible); Arrow's zlib is faster than Python's
                content = b"".join(segments()) if inserts else data[int(offsets[0]) : int(offsets[-1])]
                codec = pa.Codec("gzip", compression_level=GZIP_LEVEL)  # one per call: not thread-safe
                fh.write(codec.compress(content, asbytes=False))
            else:
                for seg in segments():
                    fh.write(seg)

    _write_atomic(path, write)


def _write_parquet(path: Path, table: pa.Table) -> None:
    _write_atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


@dataclass
class _RunState:
    files: list[Path] = field(default_factory=list)
    lines_by_date: dict[date, int] = field(default_factory=dict)
    events_by_date: dict[date, int] = field(default_factory=dict)
    distinct: int = 0
    duplicates: int = 0
    late: int = 0
    malformed: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    kind_cursor: int = 0
    pending: list[Future] = field(default_factory=list)


def _flush(
    cfg: GeneratorConfig,
    pop: _Population,
    renderer: _Renderer,
    arrival_abs: int,
    parts: list[_Events],
    state: _RunState,
    pool: ThreadPoolExecutor,
) -> None:
    """Write one arrival-date folder: its events in time order, split into files, malformed lines added."""
    ev = _Events.concat(parts)
    ev = ev.take(np.argsort(ev.t_ms, kind="stable"))  # time order; ties keep the (deterministic) input order
    arrival = _EPOCH + timedelta(days=int(arrival_abs))
    folder = cfg.landing_dir / arrival.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    number = _next_file_number(folder)
    n_files = min(cfg.files_per_day, len(ev))
    kinds = _malformed_kinds(cfg.file_format)
    state.events_by_date[arrival] = len(ev)
    state.lines_by_date[arrival] = len(ev)
    state.distinct += int((~ev.is_dup).sum())
    state.duplicates += int(ev.is_dup.sum())
    state.late += int(ev.is_late.sum())

    bounds = np.linspace(0, len(ev), n_files + 1).round().astype(np.int64)
    for i in range(n_files):
        part = ev.take(slice(bounds[i], bounds[i + 1]))
        file_no = number + i
        path = folder / f"events-{file_no:03d}.{cfg.extension}"
        rng = np.random.default_rng([cfg.seed, arrival_abs, file_no, 3])
        expected = cfg.malformed_rate * len(part)
        n_bad = int(expected) + int(rng.random() < expected - int(expected))
        records: list[tuple[int, object]] = []
        if n_bad:
            cursor = state.kind_cursor + np.arange(n_bad)
            state.kind_cursor += n_bad
            serial = np.uint64(arrival_abs << 28 | 1 << 27) | (
                cursor.astype(np.uint64) & np.uint64((1 << 27) - 1)
            )
            bad_ids = _hex_id("evt_", _mix64(serial ^ _seed_key(cfg.seed, 0xE1D)))
            ho_ids = _hex_id("ho_", _mix64(serial ^ _seed_key(cfg.seed, 0xBAD)))
            customers = _hex_id(
                "cus_",
                _mix64(rng.integers(0, pop.size, n_bad).astype(np.uint64) ^ _seed_key(cfg.seed, 0xC057)),
            )
            positions = np.sort(rng.integers(0, len(part), n_bad))  # before that valid line: never at the end
            for b in range(n_bad):
                kind = kinds[int(cursor[b]) % len(kinds)]
                variant = int(cursor[b]) // len(kinds)
                record, reason = _malformed_record(
                    kind, variant, rng, arrival, bad_ids[b], customers[b], renderer.agent_ids[0], ho_ids[b]
                )
                records.append((int(positions[b]), record))
                state.malformed[kind] += 1
                state.reasons[reason] += 1
        state.lines_by_date[arrival] += n_bad
        job = pool.submit(_render_and_write, cfg, renderer, path, part, records)
        state.files.append(path)
        state.pending.append(job)
        while len(state.pending) > 2:  # bound the memory held by queued writes
            state.pending.pop(0).result()


def _render_and_write(
    cfg: GeneratorConfig, renderer: _Renderer, path: Path, part: _Events, records: list[tuple[int, object]]
) -> None:
    """Worker: render the file's lines and write them atomically."""
    if cfg.file_format == "parquet":
        table = renderer.table(part, with_extra=cfg.extra_field_rate > 0)
        if records:
            table = _splice_parquet_rows(table, records)
        _write_parquet(path, table)
    else:
        lines = renderer.ndjson(part)
        inserts = [(pos, rec if isinstance(rec, bytes) else _compact(rec).encode()) for pos, rec in records]
        _write_ndjson(path, lines, inserts, cfg.file_format == "ndjson.gz")


def _compact(rec: object) -> str:
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":"))


def _splice_parquet_rows(table: pa.Table, records: list[tuple[int, object]]) -> pa.Table:
    rows = []
    for _, rec in records:
        assert isinstance(rec, dict)
        rows.append(
            {name: (None if rec.get(name) is None else str(rec[name])) for name in table.column_names}
        )
    bad = pa.Table.from_pylist(rows, schema=table.schema)
    combined = pa.concat_tables([table, bad])
    order = np.arange(table.num_rows)
    positions = np.array([pos for pos, _ in records])
    # stable: each bad row goes right before the valid row at its position
    keys = np.concatenate([order * 2 + 1, positions * 2])
    return combined.take(pa.array(np.argsort(keys, kind="stable")))


# ---------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------


def generate(config: GeneratorConfig) -> GenerationSummary:
    """Simulate `config.days` local days and write them into the landing zone (SPEC §2).

    Arrival folders may extend before `start` (events just after local midnight east of UTC) and up
    to `max_late_days` + 3 days after the last day (late events, later redeliveries). Existing files
    are never overwritten: numbering in a folder continues after its highest `events-NNN`, so running
    the same command twice writes every event twice (as redeliveries); start from an empty landing
    dir for byte-identical reruns.
    """
    started = time.perf_counter()
    cfg = config
    tz = ZoneInfo(cfg.timezone)
    cfg.landing_dir.mkdir(parents=True, exist_ok=True)
    pop = _Population(cfg.seed, cfg.conversations_per_day)
    renderer = _Renderer(pop)
    stats = _DayStats()
    state = _RunState()
    buffers: dict[int, list[_Events]] = {}

    # writers run in threads (rendering and compression release the GIL); leaving the block waits for them
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        for i in range(cfg.days):
            day = cfg.start + timedelta(days=i)
            cols = _simulate_day(cfg, pop, day, stats)
            if cols:
                ev = _finish_day(cfg, day, cols)
                ev = ev.take(np.argsort(ev.arrival, kind="stable"))
                arrivals, first = np.unique(ev.arrival, return_index=True)
                for a, lo, hi in zip(arrivals, first, [*first[1:], len(ev)], strict=True):
                    buffers.setdefault(int(a), []).append(ev.take(slice(lo, hi)))
            # no later day has an event before the next local midnight: earlier folders are complete
            nxt = day + timedelta(days=1)
            horizon = int(datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).timestamp()) * 1000 // _MS_PER_DAY
            for a in sorted(a for a in buffers if a < horizon):
                _flush(cfg, pop, renderer, a, buffers.pop(a), state, pool)
        for a in sorted(buffers):
            _flush(cfg, pop, renderer, a, buffers.pop(a), state, pool)
        for job in state.pending:
            job.result()

    outcomes = {OUTCOMES[o]: stats.outcomes.get(o, 0) for o in range(len(OUTCOMES))}
    return GenerationSummary(
        landing_dir=cfg.landing_dir,
        files=tuple(state.files),
        lines_by_arrival_date=dict(sorted(state.lines_by_date.items())),
        events_by_arrival_date=dict(sorted(state.events_by_date.items())),
        distinct_events=state.distinct,
        duplicate_lines=state.duplicates,
        late_events=state.late,
        malformed_by_kind=dict(sorted(state.malformed.items())),
        quarantine_reasons=dict(sorted(state.reasons.items())),
        total_lines=sum(state.lines_by_date.values()),
        simulated_conversations=stats.conversations,
        handover_requests=stats.handover_requests,
        handover_outcomes=outcomes,
        shapes={k: stats.shapes.get(k, 0) for k in SHAPES},
        elapsed_seconds=time.perf_counter() - started,
    )


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `chat-analytics generate`."""
    d = GeneratorConfig.__dataclass_fields__
    parser.add_argument(
        "--start", type=_iso_date, required=True, help="first local day simulated (YYYY-MM-DD)"
    )
    parser.add_argument("--days", type=int, required=True, help="number of local days simulated")
    parser.add_argument(
        "--seed", type=int, default=d["seed"].default, help="random seed (default %(default)s)"
    )
    parser.add_argument(
        "--conversations-per-day",
        type=int,
        default=d["conversations_per_day"].default,
        help="mean conversations started per day (default %(default)s)",
    )
    parser.add_argument(
        "--timezone",
        default=None,
        help="business time zone for seasonality (IANA name; default $CHAT_ANALYTICS_TIMEZONE or UTC)",
    )
    parser.add_argument(
        "--format",
        dest="file_format",
        choices=FILE_FORMATS,
        default=d["file_format"].default,
        help="file format (default %(default)s)",
    )
    parser.add_argument(
        "--files-per-day",
        type=int,
        default=d["files_per_day"].default,
        help="files per arrival-date folder (default %(default)s)",
    )
    for name, help_text in (
        ("duplicate_rate", "share of events delivered twice"),
        ("late_rate", "share of events arriving 1-5 days late"),
        ("malformed_rate", "malformed lines per valid line"),
        ("extra_field_rate", "share of events with an unknown extra field"),
    ):
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=float,
            default=d[name].default,
            help=f"{help_text} (default %(default)s)",
        )
    shapes = parser.add_argument_group("conversation shapes (fractions)")
    for name, help_text in (
        ("welcome_first_rate", "visits on greeting channels the bot's welcome opens"),
        ("unanswered_welcome_rate", "of those greetings, nobody answers"),
        ("campaign_rate", "visits that are a proactive campaign message"),
        ("campaign_unanswered_share", "of the campaign messages, never answered"),
        ("campaign_late_answer_share", "of the campaign messages, answered after more than 10 minutes"),
        ("goodbye_rate", "closed tickets followed by the agent's goodbye"),
        ("goodbye_answer_share", "of those goodbyes, answered by the customer"),
        ("left_open_rate", "received handovers never closed"),
        ("left_open_return_share", "of those, customers back after the handover timeout"),
        ("quick_return_rate", "conversations continued after 1-10 minutes of silence"),
        ("return_rate", "visits followed by another the same day after more than 10 minutes"),
    ):
        shapes.add_argument(
            "--" + name.replace("_", "-"),
            type=float,
            default=d[name].default,
            help=f"{help_text} (default %(default)s)",
        )
    parser.add_argument(
        "--landing-dir",
        type=Path,
        default=None,
        help="landing zone (default $CHAT_ANALYTICS_LANDING_DIR or the project's)",
    )


def config_from_args(args: argparse.Namespace, default_landing_dir: Path) -> GeneratorConfig:
    """GeneratorConfig from parsed `add_generate_arguments` flags (raises ValueError when invalid)."""
    return GeneratorConfig(
        landing_dir=Path(args.landing_dir) if args.landing_dir is not None else Path(default_landing_dir),
        start=args.start,
        days=args.days,
        seed=args.seed,
        conversations_per_day=args.conversations_per_day,
        timezone=args.timezone or os.environ.get("CHAT_ANALYTICS_TIMEZONE") or "UTC",
        file_format=args.file_format,
        files_per_day=args.files_per_day,
        duplicate_rate=args.duplicate_rate,
        late_rate=args.late_rate,
        malformed_rate=args.malformed_rate,
        extra_field_rate=args.extra_field_rate,
        **{name: getattr(args, name) for name in SHAPE_RATES},
    )
