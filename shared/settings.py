"""Function settings: environment variables validated by pydantic at start, read through cached getters.

This is the only module that reads `os.environ`.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Annotated, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from shared.errors import ConfigError


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


CsvList = Annotated[list[str], BeforeValidator(_split_csv)]


class BaseSettings(BaseModel):
    """Settings every function has."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    table_name: str = Field(alias="TABLE_NAME", min_length=1)
    helpdesk_config: str | None = Field(default=None, alias="HELPDESK_CONFIG")
    """Path of the helpdesk config YAML; the bundled default when unset."""


class InboundEmailSettings(BaseSettings):
    inbound_bucket: str = Field(alias="INBOUND_BUCKET", min_length=1)
    support_domain: str = Field(alias="SUPPORT_DOMAIN", min_length=1)
    support_addresses: CsvList = Field(alias="SUPPORT_ADDRESSES", min_length=1)
    inline_mail_topic_arn: str | None = Field(default=None, alias="INLINE_MAIL_TOPIC_ARN")
    """Topic of the deployed receipt rule's SNS action, the one source of mail inline in a notification.
    Empty (the template's S3 rule): inline content is never ingested, it is quarantined."""

    @field_validator("inline_mail_topic_arn", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return value or None


class InboundSmsSettings(BaseSettings):
    """inbound_sms needs only the common settings."""


class AgentCallerSettings(BaseSettings):
    """Functions agents call through the agent API's JWT authorizer: how a token names them."""

    agent_id_claim: str = Field(default="custom:agent_id", alias="AGENT_ID_CLAIM")
    """ID-token claim holding the agent id; a token without it is refused (401)."""
    supervisor_group: str = Field(default="supervisors", alias="SUPERVISOR_GROUP")
    admin_group: str = Field(default="admins", alias="ADMIN_GROUP")
    """Cognito group whose members, like supervisors, review and release the quarantine."""


class AgentApiSettings(AgentCallerSettings):
    support_domain: str = Field(default="localhost", alias="SUPPORT_DOMAIN")
    support_addresses: CsvList = Field(default_factory=list, alias="SUPPORT_ADDRESSES")
    inbound_bucket: str | None = Field(default=None, alias="INBOUND_BUCKET")
    """Bucket of the raw mail SES stored: a released email is read from it (unset: no email release)."""


class AutoFollowupSettings(BaseSettings):
    support_domain: str = Field(alias="SUPPORT_DOMAIN", min_length=1)
    support_addresses: CsvList = Field(alias="SUPPORT_ADDRESSES", min_length=1)
    outbound_secret_name: str | None = Field(default=None, alias="OUTBOUND_SECRET_NAME")
    """Secrets Manager secret with the sending tokens: meta_page_tokens, whatsapp_token, x_bearer_token
    (the template's OutboundSecret, readable by auto_followup alone)."""


class SlaSweeperSettings(BaseSettings):
    """sla_sweeper: the scheduled dispatcher of the sweep tasks, and the outbox passes."""

    sweep_queue_url: str = Field(alias="SWEEP_QUEUE_URL", min_length=1)


class SlaSweepWorkerSettings(BaseSettings):
    """sla_sweep_worker: one shard of the deadline or unrouted index per task (decision 118)."""

    sweep_queue_url: str = Field(alias="SWEEP_QUEUE_URL", min_length=1)
    """Where a task whose shard outlasts the time budget goes back as its next part."""
    escalation_topic_arn: str = Field(alias="ESCALATION_TOPIC_ARN", min_length=1)
    support_domain: str = Field(alias="SUPPORT_DOMAIN", min_length=1)
    support_addresses: CsvList = Field(alias="SUPPORT_ADDRESSES", min_length=1)


class ReportsSettings(AgentCallerSettings):
    """reports: GET /reports for supervisors and admins."""


class ReportExportSettings(AgentCallerSettings):
    """The ticket exports (decision 103): the reports function records them and invokes the
    report_exports worker asynchronously, which writes them to the bucket."""

    exports_bucket: str = Field(alias="EXPORTS_BUCKET", min_length=1)
    export_function: str | None = Field(default=None, alias="EXPORT_FUNCTION")
    """The worker the reports function invokes (the worker needs none)."""


class ReportsScheduleSettings(BaseSettings):
    """reports' hourly schedule: digests to S3 and SES, range alerts to the alarm topic."""

    digests_bucket: str = Field(alias="DIGESTS_BUCKET", min_length=1)
    alarm_topic_arn: str = Field(alias="ALARM_TOPIC_ARN", min_length=1)
    support_addresses: CsvList = Field(alias="SUPPORT_ADDRESSES", min_length=1)
    """The first is the digests' From address unless the config sets `followups.from_address`."""
    delivery_lease_seconds: int = Field(default=600, alias="DELIVERY_LEASE_SECONDS", ge=60)
    """A claim older than this was left by a dead run (its outcome unknown); above the timeout."""


class RouteTicketSettings(BaseSettings):
    live_queue_url: str | None = Field(default=None, alias="LIVE_QUEUE_URL")
    """The live workspace's queue: the change events pushed to agents (unset: none are made)."""


class LiveSettings(AgentCallerSettings):
    """live: the WebSocket API's connections, admitted with the agent's Cognito ID token."""

    token_issuer: str = Field(alias="TOKEN_ISSUER", min_length=1)
    """The user pool's issuer URL (`https://cognito-idp.<region>.amazonaws.com/<pool id>`)."""
    token_audience: str = Field(alias="TOKEN_AUDIENCE", min_length=1)
    """The agent UI's app client id: an ID token for another client is refused."""
    token_keys_url: str | None = Field(default=None, alias="TOKEN_KEYS_URL")
    """Where the user pool's signing keys (JWKS) are read; `<issuer>/.well-known/jwks.json` when
    unset (the simulator points it at its local user pool's keys)."""

    @property
    def keys_url(self) -> str:
        return self.token_keys_url or f"{self.token_issuer}/.well-known/jwks.json"


class LivePushSettings(BaseSettings):
    """live_push: the change events, posted to the connections allowed to see them."""

    connections_endpoint: str = Field(alias="CONNECTIONS_ENDPOINT", min_length=1)
    """The WebSocket API's management endpoint:
    `https://<api id>.execute-api.<region>.amazonaws.com/<stage>`."""


class AnalyticsExportSettings(BaseSettings):
    analytics_bucket: str = Field(alias="ANALYTICS_BUCKET", min_length=1)
    """Where ticket events and ledgers land for Athena (docs/analytics.md)."""


class SocialWebhookSettings(BaseSettings):
    webhook_secret_name: str = Field(alias="WEBHOOK_SECRET_NAME", min_length=1)
    """Secrets Manager secret with the verification secrets (JSON: meta_app_secret, meta_verify_token,
    x_consumer_secret; the template's WebhookSecret, readable by social_webhook alone)."""
    max_body_bytes: int = Field(default=3_500_000, alias="WEBHOOK_MAX_BODY_BYTES", ge=1024)
    instagram_account_ids: CsvList = Field(default_factory=list, alias="INSTAGRAM_ACCOUNT_IDS")


S = TypeVar("S", bound=BaseSettings)


@cache
def get_settings(kind: type[S]) -> S:
    """Validate the environment into `kind` once per process; a clear ConfigError when it is wrong."""
    try:
        return kind.model_validate(dict(os.environ))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid {kind.__name__} from environment: {problems}") from exc


def reset_settings() -> None:
    """Forget cached settings (tests and the simulator change the environment)."""
    get_settings.cache_clear()


def tracing_enabled() -> bool:
    """Whether X-Ray tracing through Powertools is on (POWERTOOLS_TRACE_DISABLED not truthy)."""
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() not in {"1", "true", "yes"}


def aws_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def metrics_namespace() -> str:
    """The CloudWatch namespace of our metrics (POWERTOOLS_METRICS_NAMESPACE, default `Helpdesk`)."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Helpdesk"
