"""Every label of the Conversations tab, in English and French, in one place.

The French wording and the hover notes are those of the platform's help article on its Conversations
tab; the English ones are our reading of it (docs/metrics.md). Where the article says nothing (pending requests, the trend, the page's own messages) the wording is ours.
The dashboard and `chat-analytics report` take their labels from here, never from strings of their own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

Language = Literal["en", "fr"]
LANGUAGES: tuple[Language, ...] = ("en", "fr")
DEFAULT_LANGUAGE: Language = "en"

# metric -> language -> (label, hover note)
METRICS: dict[str, dict[Language, tuple[str, str]]] = {
    "successful_transfers": {
        "en": (
            "Successful transfers",
            "New handover requests received in the agents' inbox during the selected period.",
        ),
        "fr": (
            "Transferts réussis",
            "Nouvelles demandes de transfert reçues dans la boîte de réception pendant la période sélectionnée.",
        ),
    },
    "total_conversations": {
        "en": ("Total conversations", "All conversations, chatbot conversations included."),
        "fr": ("Conversations totales", "Toutes les conversations, y compris les conversations du chatbot."),
    },
    "answered_conversations": {
        "en": (
            "Conversations with reply",
            "Handover requests on which agents wrote at least one message during the selected period.",
        ),
        "fr": (
            "Conversations avec réponse",
            "Nombre de demandes pour lesquelles les agents ont rédigé au moins un message pendant la "
            "période sélectionnée.",
        ),
    },
    "engaged_conversations": {
        "en": (
            "Engaged conversations",
            "Conversations where customers or agents interacted after the welcome message.",
        ),
        "fr": (
            "Conversations engagées",
            "Nombre de conversations où les clients ou les agents ont interagi après le message de bienvenue.",
        ),
    },
    "closed_conversations": {
        "en": ("Closed conversations", "Handover requests closed by an agent."),
        "fr": ("Conversations closes", "Demandes de transfert closes par un agent."),
    },
    "engaged_customers": {
        "en": ("Engaged customers", "Individual customers who interacted with the chatbot."),
        "fr": ("Clients engagés", "Nombre de clients individuels qui ont interagi avec le chatbot."),
    },
    "avg_initial_wait_seconds": {
        "en": (
            "Average initial customer wait",
            "Delay between the customer's first message and an agent's reply to it during the selected period.",
        ),
        "fr": (
            "Temps d’attente initial moyen d’un client",
            "Délai entre le premier message du client et la réponse d’un agent à ce message pendant la "
            "période sélectionnée.",
        ),
    },
    "avg_chatbot_duration_seconds": {
        "en": (
            "Average chatbot conversation duration",
            "Average duration of all engaged conversations in the chatbot.",
        ),
        "fr": (
            "Durée moyenne des conversations dans le chatbot",
            "Durée moyenne de toutes les conversations engagées dans le chatbot.",
        ),
    },
}

# Reference labels: value -> language -> label. A value not listed shows as it is.
CHANNELS: dict[str, dict[Language, str]] = {
    "web": {"en": "Web", "fr": "Web"},
    "messenger": {"en": "Messenger", "fr": "Messenger"},
    "instagram": {"en": "Instagram", "fr": "Instagram"},
    "whatsapp": {"en": "WhatsApp", "fr": "WhatsApp"},
    "sms": {"en": "SMS", "fr": "SMS"},
    "apple_messages": {"en": "Apple Messages", "fr": "Apple Messages"},
}
SUPPORT_TYPES: dict[str, dict[Language, str]] = {
    "campaign": {"en": "Campaign", "fr": "Campagne"},
    "transfer": {"en": "Transfer", "fr": "Transfert"},
    "sales": {"en": "Sales", "fr": "Ventes"},
    "support": {"en": "Support", "fr": "Soutien"},
    "other": {"en": "Other", "fr": "Autre"},
}
OUTCOMES: dict[str, dict[Language, tuple[str, str]]] = {
    "successful": {
        "en": ("Successful", "Handover requests received in the inbox."),
        "fr": ("Réussis", "Demandes de transfert reçues dans la boîte de réception."),
    },
    "cancelled": {
        "en": ("Cancelled", "Handover requests cancelled by the customer."),
        "fr": ("Annulés", "Demandes de transfert annulées par le client."),
    },
    "disabled": {
        "en": ("Disabled", "Handover requests not completed because handover to an agent was switched off."),
        "fr": (
            "Désactivés",
            "Demandes de transfert qui n’ont pas été terminées parce que l’option de transfert à un agent "
            "était désactivée.",
        ),
    },
    "incomplete": {
        "en": ("Incomplete", "The customer did not finish the handover to the agent."),
        "fr": ("Incomplets", "Le client n’a pas terminé le transfert vers l’agent."),
    },
    "pending": {
        "en": ("Pending", "Requested, no outcome yet."),
        "fr": ("En attente", "Demandes de transfert sans résultat pour l’instant."),
    },
}
DEPARTMENTS: dict[str, dict[Language, str]] = {
    "unassigned": {"en": "Unassigned", "fr": "Non attribué"},
}
WEEKDAYS: dict[Language, tuple[str, ...]] = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "fr": ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche"),
}

# The page's words: key -> language -> text ({name} fields are filled by `text`).
TEXTS: dict[str, dict[Language, str]] = {
    "page_title": {"en": "Conversations", "fr": "Conversations"},
    "intro": {
        "en": "A conversation is counted when a customer interacts with the chatbot after {minutes} minutes "
        "of inactivity, or reopens a closed conversation.",
        "fr": "Une conversation est comptée lorsqu’un client interagit avec le chatbot après {minutes} minutes "
        "d’inactivité, ou rouvre une conversation close.",
    },
    "scope": {
        "en": "{first} to {last} ({timezone}) · {channels} · {hours}",
        "fr": "Du {first} au {last} ({timezone}) · {channels} · {hours}",
    },
    "language": {"en": "Language", "fr": "Langue"},
    "from": {"en": "From", "fr": "Du"},
    "to": {"en": "To", "fr": "Au"},
    "channels": {"en": "Channels", "fr": "Canaux"},
    "channels_placeholder": {"en": "All channels", "fr": "Tous les canaux"},
    "all_channels": {"en": "all channels", "fr": "tous les canaux"},
    "hours": {"en": "Hours", "fr": "Heures"},
    "all_hours": {"en": "all hours", "fr": "toutes les heures"},
    "hour_range": {"en": "hours {first}-{last}", "fr": "de {first} h à {last} h"},
    "filters_help": {
        "en": "Each number counts what its own instant dates (a conversation's start, a transfer's "
        "reception, a reply, a close, a request) in these local dates and hours.",
        "fr": "Chaque nombre compte ce que date son propre instant (début d’une conversation, réception "
        "d’un transfert, réponse, clôture, demande) dans ces dates et heures locales.",
    },
    "by_channel": {"en": "Conversations by channel", "fr": "Conversations par canal"},
    "by_channel_note": {
        "en": "Conversations started in the period, by channel: all conversations or engaged ones only.",
        "fr": "Conversations commencées pendant la période, par canal : toutes les conversations ou les "
        "conversations engagées seulement.",
    },
    "by_support_type": {"en": "Conversations by support type", "fr": "Conversations par type de soutien"},
    "by_support_type_note": {
        "en": "Conversations by the flow category of their last bot message (campaign, transfer, sales, "
        "support, other): all conversations or engaged ones only.",
        "fr": "Conversations par catégorie du dernier flux du chatbot (campagne, transfert, ventes, soutien, "
        "autre) : toutes les conversations ou les conversations engagées seulement.",
    },
    "conversations_switch": {"en": "Show", "fr": "Afficher"},
    "all_conversations": {"en": "All conversations", "fr": "Toutes les conversations"},
    "engaged_only": {"en": "Engaged conversations only", "fr": "Conversations engagées seulement"},
    "closed_by_department": {
        "en": "Closed conversations by department",
        "fr": "Conversations closes par service",
    },
    "closed_by_department_note": {
        "en": "Handover requests closed by an agent in the period, by department.",
        "fr": "Demandes de transfert closes par un agent pendant la période, par service.",
    },
    "handover_requests": {"en": "Handover requests", "fr": "Demandes de transfert"},
    "requests_by_channel_title": {
        "en": "Handover requests by channel",
        "fr": "Demandes de transfert par canal",
    },
    "requests_by_outcome_title": {
        "en": "Handover requests by outcome",
        "fr": "Demandes de transfert par résultat",
    },
    "busiest": {
        "en": "Busiest {n} weekday x hour cells",
        "fr": "Les {n} créneaux jour x heure les plus actifs",
    },
    "requests_by_channel": {
        "en": "Which channels do your customers come from most often?",
        "fr": "De quels canaux vos clients proviennent-ils le plus souvent?",
    },
    "requests_by_channel_note": {
        "en": "A comparison, by channel, of the number of times a customer asked to talk to an agent.",
        "fr": "Ce graphique présente une comparaison par canal du nombre de fois où un client a demandé à "
        "parler à un agent.",
    },
    "requests_by_outcome": {
        "en": "Are all transfers to agents successful?",
        "fr": "Les transferts aux agents sont-ils tous réussis?",
    },
    "requests_by_outcome_note": {
        "en": "This section follows the handover requests made in the period, by outcome:",
        "fr": "Cette section vous permet de faire le suivi des demandes de transfert et fournit des données "
        "sur tous les transferts :",
    },
    "activity": {"en": "Conversation activity", "fr": "Activité des conversations"},
    "activity_note": {
        "en": "Which day of the week and which hour your customers are most engaged: engaged chatbot "
        "conversations and the number of times customers asked to talk to an agent.",
        "fr": "Ces données sont extrêmement importantes. Elles vous permettent de savoir à quel jour de la "
        "semaine et à quelle heure vos clients sont le plus engagés. Elles incluent les conversations "
        "engagées dans le chatbot et le nombre de fois où les clients ont demandé à parler à un agent.",
    },
    "activity_switch": {"en": "Show", "fr": "Afficher"},
    "engaged_chatbot_conversations": {
        "en": "Engaged chatbot conversations",
        "fr": "Conversations engagées dans le chatbot",
    },
    "trend_daily": {"en": "Conversations per day", "fr": "Conversations par jour"},
    "trend_hourly": {"en": "Conversations per hour", "fr": "Conversations par heure"},
    "trend_note": {
        "en": "Total and engaged conversations by the local date (by the hour, for one day) of their start.",
        "fr": "Conversations totales et engagées selon la date locale (l’heure, pour un jour) de leur début.",
    },
    "definition": {"en": "**{term}**: {definition}", "fr": "**{term}** : {definition}"},
    "channel": {"en": "Channel", "fr": "Canal"},
    "support_type": {"en": "Support type", "fr": "Type de soutien"},
    "department": {"en": "Department", "fr": "Service"},
    "outcome": {"en": "Outcome", "fr": "Résultat"},
    "requests": {"en": "Requests", "fr": "Demandes"},
    "conversations": {"en": "Conversations", "fr": "Conversations"},
    "weekday": {"en": "Weekday", "fr": "Jour"},
    "hour": {"en": "Hour", "fr": "Heure"},
    "date": {"en": "Date", "fr": "Date"},
    "series": {"en": "Series", "fr": "Série"},
    "data": {"en": "Data", "fr": "Données"},
    "download_csv": {"en": "Download CSV", "fr": "Télécharger le CSV"},
    "nothing": {"en": "Nothing in this period.", "fr": "Rien pendant cette période."},
    "snapshot_caption": {
        "en": "Serving snapshot {version}, published {published_at} UTC; the data covers {first} to {last}. "
        "Refresh the page to see a newer one.",
        "fr": "Instantané {version}, publié le {published_at} UTC ; les données vont du {first} au {last}. "
        "Actualisez la page pour voir le suivant.",
    },
    # Bad states
    "no_snapshot": {
        "en": "No serving snapshot yet at `{path}`. Build one: `make demo` for sample data, or "
        "`chat-analytics materialize --start D1 --end D2` on your landing zone (every successful run "
        "publishes a snapshot); then refresh this page.",
        "fr": "Aucun instantané publié pour l’instant dans `{path}`. Créez-en un : `make demo` pour des "
        "données d’exemple, ou `chat-analytics materialize --start D1 --end D2` sur votre zone de dépôt "
        "(chaque exécution réussie en publie un) ; puis actualisez cette page.",
    },
    "bad_snapshot": {
        "en": "The serving snapshot cannot be read: {error}",
        "fr": "L’instantané publié est illisible : {error}",
    },
    "outdated_snapshot": {
        "en": "The serving snapshot `{path}` comes from an older version of the marts: {details}. Rebuild "
        "and publish it: `chat-analytics materialize --start D1 --end D2 --full-refresh`.",
        "fr": "L’instantané `{path}` vient d’une version plus ancienne des marts : {details}. Reconstruisez-le "
        "et publiez-le : `chat-analytics materialize --start D1 --end D2 --full-refresh`.",
    },
    "missing_table": {"en": "table {table} is missing", "fr": "la table {table} manque"},
    "missing_columns": {"en": "{table} lacks {columns}", "fr": "il manque à {table} {columns}"},
    "bad_configuration": {
        "en": "The configuration is not valid: {error}",
        "fr": "La configuration n’est pas valide : {error}",
    },
    "empty_snapshot": {
        "en": "The serving snapshot holds no data yet: load some events and materialize them.",
        "fr": "L’instantané ne contient encore aucune donnée : chargez des événements et matérialisez-les.",
    },
    "empty_period": {
        "en": "Nothing happened in this selection, so every number is zero. The snapshot's data covers "
        "{first} to {last}.",
        "fr": "Rien ne s’est passé dans cette sélection : tous les nombres sont à zéro. Les données de "
        "l’instantané vont du {first} au {last}.",
    },
    "default_period_empty": {
        "en": "The snapshot has no data in the last {days} days ({start} to {end}); its data covers "
        "{first} to {last}.",
        "fr": "L’instantané n’a aucune donnée pour les {days} derniers jours (du {start} au {end}) ; ses "
        "données vont du {first} au {last}.",
    },
    "show_last_days": {
        "en": "Show its last {days} days ({start} to {end})",
        "fr": "Afficher ses {days} derniers jours (du {start} au {end})",
    },
    "timezone_mismatch": {
        "en": "The snapshot's dates were not computed in {timezone} (CHAT_ANALYTICS_TIMEZONE): local dates "
        "and hours here may differ from the marts'. Set the zone the pipeline ran with.",
        "fr": "Les dates de l’instantané n’ont pas été calculées dans le fuseau {timezone} "
        "(CHAT_ANALYTICS_TIMEZONE) : les dates et heures locales peuvent différer de celles des marts. "
        "Utilisez le fuseau du pipeline.",
    },
    "bad_date": {
        "en": "Ignored `{name}={value}` in the URL: not a date (YYYY-MM-DD).",
        "fr": "`{name}={value}` ignoré dans l’URL : ce n’est pas une date (AAAA-MM-JJ).",
    },
    "reversed_period": {
        "en": "Ignored `start={start}` and `end={end}` in the URL: the period starts after it ends.",
        "fr": "`start={start}` et `end={end}` ignorés dans l’URL : la période commence après sa fin.",
    },
    "unknown_channel": {
        "en": "Ignored `channel={value}` in the URL: the snapshot has no such channel ({known}).",
        "fr": "`channel={value}` ignoré dans l’URL : l’instantané n’a pas ce canal ({known}).",
    },
    "bad_hours": {
        "en": "Ignored `hours={value}` in the URL: use an hour or a range within 0-23, such as 9-17.",
        "fr": "`hours={value}` ignoré dans l’URL : indiquez une heure ou une plage entre 0 et 23, comme 9-17.",
    },
    "bad_choice": {
        "en": "Ignored `{name}={value}` in the URL: use one of {choices}.",
        "fr": "`{name}={value}` ignoré dans l’URL : utilisez l’une des valeurs {choices}.",
    },
}


def language(value: str | None) -> Language:
    return "fr" if value == "fr" else "en"


def text(key: str, lang: Language, **fields: object) -> str:
    template = TEXTS[key][lang]
    return template.format(**fields) if fields else template


def metric_label(key: str, lang: Language) -> str:
    return METRICS[key][lang][0]


def metric_note(key: str, lang: Language) -> str:
    return METRICS[key][lang][1]


def _reference(table: Mapping[str, Mapping[Language, str]], value: str, lang: Language) -> str:
    labels = table.get(value)
    return labels[lang] if labels else value


def channel_label(value: str, lang: Language) -> str:
    return _reference(CHANNELS, value, lang)


def support_type_label(value: str, lang: Language) -> str:
    return _reference(SUPPORT_TYPES, value, lang)


def department_label(value: str, lang: Language) -> str:
    return _reference(DEPARTMENTS, value, lang)


def outcome_label(value: str, lang: Language) -> str:
    labels = OUTCOMES.get(value)
    return labels[lang][0] if labels else value


def outcome_note(value: str, lang: Language) -> str:
    labels = OUTCOMES.get(value)
    return labels[lang][1] if labels else ""


def weekday_label(iso_day: int, lang: Language) -> str:
    return WEEKDAYS[lang][iso_day - 1]


def format_count(value: int | None, lang: Language) -> str:
    if value is None:
        return "–"
    # French groups thousands with a narrow no-break space.
    return f"{value:,}".replace(",", "\u202f") if lang == "fr" else f"{value:,}"


def format_duration(seconds: float | None, lang: Language) -> str:
    """A duration as minutes and seconds: '54 min 40 s', '7 s'; '–' when there is none."""
    if seconds is None or math.isnan(seconds):
        return "–"
    whole = round(seconds)
    minutes, rest = divmod(whole, 60)
    if not minutes:
        return f"{rest} s"
    return f"{format_count(minutes, lang)} min {rest:02d} s"


def format_metric(key: str, value: int | float | None, lang: Language) -> str:
    """A headline tile's value as the dashboard and the report show it."""
    if key.startswith("avg_"):
        return format_duration(value, lang)
    return format_count(None if value is None else int(value), lang)
