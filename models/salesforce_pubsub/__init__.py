"""Salesforce's Pub/Sub API on the wire: its messages, method paths, session metadata and
error codes, shared by Syncline's connector and the sandbox CRM that serves the API.

The messages are generated from ``pubsub_api.proto`` beside this file. The names below
are Salesforce's; where its documentation leaves something open, the comment says so.
"""

from __future__ import annotations

from models.salesforce_pubsub.pubsub_api_pb2 import (
    CUSTOM,
    EARLIEST,
    LATEST,
    ConsumerEvent,
    FetchRequest,
    FetchResponse,
    ProducerEvent,
    ReplayPreset,
    SchemaInfo,
    SchemaRequest,
    TopicInfo,
    TopicRequest,
)

SERVICE = "eventbus.v1.PubSub"
SUBSCRIBE = f"/{SERVICE}/Subscribe"
GET_SCHEMA = f"/{SERVICE}/GetSchema"
GET_TOPIC = f"/{SERVICE}/GetTopic"

# The session, as metadata on every call (gRPC lower-cases metadata keys).
ACCESS_TOKEN = "accesstoken"
INSTANCE_URL = "instanceurl"
TENANT_ID = "tenantid"
"""The org id (``00D…``)."""

ERROR_CODE_TRAILER = "error-code"
"""Salesforce names the cause of a failed call in this trailing metadata key."""

AUTH_ERROR = "sfdc.platform.eventbus.grpc.service.auth.error"
REPLAY_ID_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
"""The replay id is not one the bus can start after: malformed, or its events were
purged (older than the 72-hour retention). Sent with status INVALID_ARGUMENT."""
REPLAY_ID_VALIDATION_FAILED = (
    "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"
)
"""Documented beside the one above without saying when each is sent; the sandbox uses
it for a well-formed replay id the bus never issued."""
TOPIC_NOT_FOUND = "sfdc.platform.eventbus.grpc.subscription.topic.notfound"
"""Not in Salesforce's error table as read (2026-12); the sandbox's choice, with
status NOT_FOUND, for a channel that does not exist or carries no selected entity."""

RETENTION_HOURS = 72
"""How long the bus keeps change events (Salesforce may keep them longer, never less)."""
KEEPALIVE_SECONDS = 270
"""An idle subscription gets an empty ``FetchResponse`` at least this often."""

__all__ = [
    "ACCESS_TOKEN",
    "AUTH_ERROR",
    "CUSTOM",
    "EARLIEST",
    "ERROR_CODE_TRAILER",
    "GET_SCHEMA",
    "GET_TOPIC",
    "INSTANCE_URL",
    "KEEPALIVE_SECONDS",
    "LATEST",
    "REPLAY_ID_CORRUPTED",
    "REPLAY_ID_VALIDATION_FAILED",
    "RETENTION_HOURS",
    "SUBSCRIBE",
    "TENANT_ID",
    "TOPIC_NOT_FOUND",
    "ConsumerEvent",
    "FetchRequest",
    "FetchResponse",
    "ProducerEvent",
    "ReplayPreset",
    "SchemaInfo",
    "SchemaRequest",
    "TopicInfo",
    "TopicRequest",
]
