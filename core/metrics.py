"""The bot's Prometheus metrics, in one registry of our own.

Every part counts into these objects (the core, the Nemo client, the adapters); `bots/ops_server.py`
serves them on /metrics. A registry of our own (not prometheus_client's global one) keeps tests
independent and lets the ops server add collectors that read the job store at scrape time.
Labels stay low-cardinality: never a chat id, user id, file name or URL.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# Renders the bot asked for, by how they ended:
# delivered | too_big (link sent instead) | failed | cancelled | timeout | resend (lost at a restart)
JOBS_FINISHED = Counter(
    "aiwm_jobs_finished_total", "Export jobs that ended, by outcome", ["outcome"], registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "aiwm_job_duration_seconds", "From export request to the video in the chat, by outcome", ["outcome"],
    buckets=(5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600), registry=REGISTRY,
)
TURN_SECONDS = Histogram(
    "aiwm_turn_duration_seconds", "One backend turn, from request to its end",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900), registry=REGISTRY,
)
BACKEND_ERRORS = Counter(
    "aiwm_backend_errors_total", "Errors from the editing backend, by code (HTTP status or API code)",
    ["code"], registry=REGISTRY,
)
PLATFORM_RETRIES = Counter(
    "aiwm_platform_retries_total", "Calls to a chat platform that were retried, by surface and reason",
    ["surface", "reason"], registry=REGISTRY,
)
REFUSALS = Counter(
    "aiwm_refusals_total", "Messages politely refused, by reason", ["reason"], registry=REGISTRY,
)
MESSAGES = Counter(
    "aiwm_messages_total", "Inbound messages the core handled, by surface", ["surface"], registry=REGISTRY,
)
ACTIVE_CHATS = Gauge(
    "aiwm_active_chats", "Chats with work queued or running", registry=REGISTRY,
)
