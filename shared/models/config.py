"""The helpdesk config: one YAML document, validated with clear errors (see docs/config.md)."""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Identifier = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
ChannelName = Literal["email", "sms", "messenger", "instagram", "whatsapp", "x"]
CapacityGroup = Literal["email", "sms", "social"]
PriorityName = Literal["low", "normal", "high", "urgent"]


DEFAULT_CAPACITY: dict[CapacityGroup, int] = {"email": 10, "sms": 5, "social": 5}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TicketFieldConfig(_Strict):
    """A custom field agents fill on tickets (an order number, a product, a contract...)."""

    id: str = Identifier
    name: str = Field(min_length=1, max_length=100)
    type: Literal["text", "number", "choice", "checkbox"] = "text"
    choices: list[str] = Field(default_factory=list)
    """For `choice`: the values allowed."""

    @model_validator(mode="after")
    def _choices_for_choice(self) -> TicketFieldConfig:
        if (self.type == "choice") != bool(self.choices):
            raise ValueError(f"field {self.id!r}: `choices` is for, and needed by, type `choice`")
        return self


class TicketsConfig(_Strict):
    number_start: int = Field(default=1, ge=1)
    """The first ticket number of a fresh deployment."""
    fields: list[TicketFieldConfig] = Field(default_factory=list)
    """Custom fields of tickets, set by agents (`PATCH /tickets/{ref}` `fields`)."""

    def field(self, field_id: str) -> TicketFieldConfig | None:
        return next((f for f in self.fields if f.id == field_id), None)


class ViewsConfig(_Strict):
    shards: int = Field(default=1, ge=1, le=64)
    """Write shards of each view partition (`VIEW#<scope>#<view>#<n>`): one takes about 100 ticket
    changes a second (docs/scale.md); a page reads every shard of each scope. Changing it needs
    `helpdesk index rebuild --views --view-shards <n>` (decision 126)."""


class EmailConfig(_Strict):
    reopen_closed_within_days: float = Field(default=14, ge=0)
    """A reply to a ticket closed at most this long ago reopens it; later ones open a new linked ticket."""
    subject_token_prefix: str = Field(default="#", min_length=1, max_length=8)
    """Tickets are tokenised in subjects as `[<prefix><number>]`, e.g. `[#42]`."""
    quarantine_spam: bool = True
    quarantine_virus: bool = True
    max_inline_body_bytes: int = Field(default=64_000, ge=1_000, le=300_000)
    """Message bodies larger than this are kept in S3, with a preview in the table."""
    relay_senders: list[str] = Field(default_factory=list)
    """Senders that write on behalf of others (web forms, shops): an address `forms@web.example`
    or a whole domain `@web.example`. Their mail's single Reply-To names the customer and is where
    we answer, when the mail passes DMARC."""

    @field_validator("relay_senders")
    @classmethod
    def _relay_senders(cls, value: list[str]) -> list[str]:
        for entry in value:
            _local, at, domain = entry.strip().rpartition("@")
            if not at or not domain or "." not in domain or any(c.isspace() for c in entry.strip()):
                raise ValueError(
                    f"{entry!r} is neither an address (`forms@web.example`) nor a domain (`@web.example`)"
                )
        return [entry.strip() for entry in value]


class ChatConfig(_Strict):
    reopen_resolved_within_hours: float = Field(default=72, ge=0)
    """An SMS or social message to a conversation resolved at most this long ago reopens its ticket;
    later ones (and any after closing) open a new ticket, linked to the old one."""
    default_sms_region: str | None = Field(default=None, min_length=2, max_length=2)
    """ISO country whose national format is accepted for SMS numbers without a country code."""


class CalendarConfig(_Strict):
    """Open hours in a time zone; no `hours` means open around the clock."""

    timezone: str = "UTC"
    hours: dict[str, list[str]] | None = None
    """Per weekday (mon..sun) a list of `HH:MM-HH:MM` intervals; an end before the start runs
    past midnight."""
    holidays: list[date] = Field(default_factory=list)
    holiday_country: str | None = Field(default=None, min_length=2, max_length=3)
    holiday_subdivision: str | None = None


class TeamConfig(_Strict):
    id: str = Identifier
    name: str | None = None
    strategy: Literal["least_loaded", "round_robin", "sticky"] = "least_loaded"
    """How a free agent is chosen; `sticky` prefers the customer's last or current agent, then
    least loaded."""
    calendar: str = "default"
    fallback_team: str | None = None
    overflow_after_minutes: int | None = Field(default=None, ge=1)
    """A ticket waiting this long in the queue moves to `fallback_team`."""
    lead: str | None = None
    """The agent told about escalations."""


class AgentConfig(_Strict):
    id: str = Identifier
    name: str | None = None
    email: str | None = None
    teams: list[str] = Field(min_length=1)
    skills: list[str] = Field(default_factory=list)
    capacity: dict[CapacityGroup, int] = Field(default_factory=lambda: dict(DEFAULT_CAPACITY))
    """How many open tickets of each channel group the agent holds at most."""
    calendar: str | None = None
    """Working calendar; outside it the agent gets no new tickets even when online."""
    default_presence: Literal["online", "away", "offline"] = "offline"
    """Presence assumed until the agent first sets one (the bundled demo config starts agents online)."""


class CustomerAttributeRule(_Strict):
    """Sets attributes (tier, custom fields) on customers whose identity matches, at ingestion."""

    email_domains: list[str] = Field(default_factory=list)
    identities: list[str] = Field(default_factory=list)
    """Exact identity values (lower-cased email, E.164 phone, platform ids)."""
    tier: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)


class PriorContacts(_Strict):
    min: int = Field(ge=0)
    days: int = Field(default=30, ge=1)


class RuleCondition(_Strict):
    """All given conditions must hold (an empty condition matches everything)."""

    channel: list[ChannelName] | None = None
    inbox: list[str] | None = None
    """The address, number, page or account the message came to."""
    keywords: list[str] | None = None
    """Any of these words in the subject or body (case-insensitive, whole words)."""
    subject_matches: str | None = None
    body_matches: str | None = None
    tags: list[str] | None = None
    """Any of these tags set at ingestion."""
    language: list[str] | None = None
    customer_tier: list[str] | None = None
    customer_fields: dict[str, list[str]] | None = None
    prior_contacts: PriorContacts | None = None
    business_hours: Literal["in", "out"] | None = None
    calendar: str = "default"
    public: bool | None = None

    @field_validator("subject_matches", "body_matches")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
        return value


class RuleAction(_Strict):
    team: str | None = None
    priority: PriorityName | None = None
    tags: list[str] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list)
    sla_policy: str | None = None
    fallback_team: str | None = None


class RoutingRule(_Strict):
    name: str = Field(min_length=1)
    weight: int = 0
    """Rules are tried by weight (highest first), then in the order written; the first match wins."""
    when: RuleCondition = Field(default_factory=RuleCondition)
    then: RuleAction


class RoutingConfig(_Strict):
    default_team: str | None = None
    """Team of tickets no rule matches (the first team when unset)."""
    rules: list[RoutingRule] = Field(default_factory=list)
    unrouted_after_minutes: int = Field(default=5, ge=1, le=1440)
    """The SLA sweeper routes a ticket still without a routing decision this long after it was
    created (route_ticket gave its stream record up, or never saw it)."""


class SlaTargetConfig(_Strict):
    minutes: int = Field(gt=0)
    business: bool = True
    """Counted in the policy calendar's open hours (True) or around the clock (False)."""


class SlaCondition(_Strict):
    channel: list[ChannelName] | None = None
    public: bool | None = None
    priority: list[PriorityName] | None = None
    team: list[str] | None = None
    customer_tier: list[str] | None = None


class EscalationStep(_Strict):
    """What happens at an escalation level: reached at a target's warning, at its breach, or later."""

    level: int = Field(ge=1)
    at: Literal["warning", "breach"] = "breach"
    after_minutes: int = Field(default=0, ge=0)
    """Wait this long after the warning or breach (calendar minutes) before this level."""
    notify: list[Literal["assignee", "team_lead", "team"]] = Field(default_factory=list)
    raise_priority: bool = False
    reassign_team: str | None = None


class SlaPolicyConfig(_Strict):
    name: str = Field(min_length=1)
    when: SlaCondition = Field(default_factory=SlaCondition)
    calendar: str | None = None
    """The calendar business time counts in (the ticket team's calendar when unset)."""
    first_response: SlaTargetConfig | None = None
    next_response: SlaTargetConfig | None = None
    periodic_update: SlaTargetConfig | None = None
    resolution: SlaTargetConfig | None = None
    warning_at: float = Field(default=0.8, gt=0, lt=1)
    """Fraction of a target's time after which it is in warning."""
    escalation: list[EscalationStep] = Field(default_factory=list)


class SlaConfig(_Strict):
    policies: list[SlaPolicyConfig] = Field(default_factory=list)
    """First match wins (a rule's `sla_policy` names one directly)."""
    sweep_shards: int = Field(default=32, ge=1, le=1024)
    """Partitions of the deadline index (`SLADUE#<shard>` on gsi3), so no partition gets hot: one
    sweep task and worker each a minute (decisions 117, 118). Changing it needs
    `helpdesk rebuild sla-index` (tickets move to their new shard)."""


class FollowupConfig(_Strict):
    acknowledge: bool = True
    """Acknowledge each new ticket with its number and when we will answer."""
    min_interval_minutes: int = Field(default=60, ge=0)
    """No automatic message to a customer who got one within this many minutes (loop guard)."""
    default_language: str = Field(default="en", min_length=2, max_length=5)
    sms_quiet_hours: str | None = "21:00-08:00"
    """No automatic SMS in these local hours of the customer (when their time zone is known)."""
    from_address: str | None = None
    """Email sender of automatic and agent mail (the first support address when unset)."""
    pending_reminder_hours: float = Field(default=48, gt=0)
    """A ticket pending on the customer this long gets a reminder..."""
    pending_auto_resolve_hours: float = Field(default=72, gt=0)
    """...and is resolved (with a notice) this long after the reminder."""
    csat: bool = True
    """Ask for a 1-5 rating when a ticket is resolved; a reply with the number is recorded."""
    transcripts: bool = True
    """Email SMS and social conversations to the customer on resolution, when we know their address."""
    out_of_office: bool = True
    """Tell a customer who writes while their ticket's agent is away when to expect an answer
    (once per absence and ticket)."""


WHATSAPP_TEMPLATE = re.compile(r"^[a-z0-9_]{1,512}:[a-z]{2,3}(_[A-Za-z0-9]{2,8})?$")
"""An approved WhatsApp template as `name:language` (the Cloud API's template name and language code)."""


PACED_CHANNELS = ("email", "sms", "messenger", "instagram", "whatsapp", "x")


class OutboundConfig(_Strict):
    """How the outbox sends: retries, sends whose outcome is unknown, WhatsApp after 24 hours."""

    max_send_attempts: int = Field(default=8, ge=1, le=20)
    """A message that still fails transiently after this many attempts fails for good (flagged)."""
    sending_timeout_minutes: int = Field(default=10, ge=2, le=1440)
    """A message claimed for sending this long ago without a result is marked failed with an
    unknown outcome and flagged for an agent (never resent: it may have reached the customer)."""
    whatsapp_reply_templates: dict[str, str] = Field(default_factory=dict)
    """Helpdesk language -> approved WhatsApp template `name:language` whose body has one
    parameter, {{1}}, for the agent's text; used for replies after the 24-hour window."""
    whatsapp_reply_text_limit: int = Field(default=900, ge=1, le=1024)
    """Characters of the agent's text put into the template's parameter (longer texts are cut)."""
    pending_redelivery_minutes: int = Field(default=15, ge=5, le=1440)
    """A message still pending this long after it was queued (or last delivered again) was lost by
    its stream delivery: the sweeper writes it again so it is sent..."""
    max_redeliveries: int = Field(default=3, ge=0, le=10)
    """...at most this often; then it fails for good and its ticket is flagged."""
    sms_sender: Literal["sns", "end_user_messaging"] = "sns"
    """How SMS leaves: SNS `Publish`, or AWS End User Messaging `SendTextMessage` (with its
    configuration sets, delivery events and spend limits)."""
    sms_configuration_set: str | None = Field(default=None, min_length=1, max_length=256)
    """End User Messaging configuration set for outbound SMS (its event destinations log deliveries)."""
    sms_max_price: str | None = Field(default=None, pattern=r"^[0-9]{1,2}(\.[0-9]{1,3})?$")
    """End User Messaging: the most one SMS part may cost, in US dollars (e.g. "0.05")."""
    sends_per_second: dict[str, int] = Field(default_factory=dict)
    """Channel -> sends started a second at most, across every concurrent auto_followup batch (e.g.
    email: the account's SES maximum send rate). A send over the pace waits with the retries, without
    counting an attempt, and goes at the sweeper's next retry pass (decision 120). Unset: unpaced."""

    @field_validator("sends_per_second")
    @classmethod
    def _rates(cls, value: dict[str, int]) -> dict[str, int]:
        for channel, rate in value.items():
            if channel not in PACED_CHANNELS:
                raise ValueError(f"{channel!r}: not a channel (one of {', '.join(PACED_CHANNELS)})")
            if not 1 <= rate <= 100_000:
                raise ValueError(f"{channel}: a rate of 1 to 100,000 sends a second is expected, not {rate}")
        return value

    @field_validator("whatsapp_reply_templates")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        for language, template in value.items():
            if not 2 <= len(language) <= 5:
                raise ValueError(f"{language!r}: a language code of 2 to 5 characters is expected")
            if not WHATSAPP_TEMPLATE.match(template):
                raise ValueError(
                    f"{language}: {template!r} is not 'name:language' (e.g. 'agent_reply:en_US'; "
                    "the name in lower case letters, digits and underscores)"
                )
        return value


class DigestConfig(_Strict):
    """A team's daily and/or weekly digest, emailed to its managers (docs/reports.md)."""

    team: str
    """A team id, or `all` for every ticket."""
    to: list[str] = Field(min_length=1, max_length=50)
    """The managers' email addresses."""
    daily: bool = True
    """Yesterday's digest, every day."""
    weekly: bool = False
    """The last full ISO week's digest, on Mondays."""
    hour: int = Field(default=7, ge=0, le=23)
    """The local hour it is sent at, in the team calendar's time zone (`reports.timezone` for `all`)."""

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            local, at, domain = address.strip().rpartition("@")
            if not local or not at or "." not in domain or any(c.isspace() for c in address.strip()):
                raise ValueError(f"{address!r} is not an email address")
        return [address.strip() for address in value]

    @model_validator(mode="after")
    def _some_period(self) -> DigestConfig:
        if not (self.daily or self.weekly):
            raise ValueError(f"digest of {self.team!r}: set `daily`, `weekly` or both")
        return self


class ReportsConfig(_Strict):
    """How reports count (docs/metrics.md), and who gets digests (docs/reports.md)."""

    timezone: str = "UTC"
    """The IANA time zone whose local dates and hours reports count tickets on."""
    days: Literal["reporting", "team"] = "reporting"
    """Whose local days a ticket counts on: `reporting`, `timezone`'s for every ticket (the `all`
    and team rows add up day by day); `team`, its team calendar's zone (a team's rows and digests
    are exact in its own days; `all` sums each ticket on its team's day). Changing it needs
    `helpdesk reports rebuild`."""
    next_issue_days: float = Field(default=7, gt=0, le=90)
    """Next issue avoidance: a resolved ticket whose customer opens no new ticket within this many
    days of its resolution avoided a next issue."""
    digests: list[DigestConfig] = Field(default_factory=list)
    """At most one per team (or `all`)."""


class HelpdeskConfig(_Strict):
    version: int = Field(default=1, ge=1, le=1)
    tickets: TicketsConfig = Field(default_factory=TicketsConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)
    chat: ChatConfig = Field(default_factory=ChatConfig)
    calendars: dict[str, CalendarConfig] = Field(default_factory=lambda: {"default": CalendarConfig()})
    teams: list[TeamConfig] = Field(default_factory=list)
    agents: list[AgentConfig] = Field(default_factory=list)
    customers: list[CustomerAttributeRule] = Field(default_factory=list)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    sla: SlaConfig = Field(default_factory=SlaConfig)
    followups: FollowupConfig = Field(default_factory=FollowupConfig)
    outbound: OutboundConfig = Field(default_factory=OutboundConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    views: ViewsConfig = Field(default_factory=ViewsConfig)

    @model_validator(mode="after")
    def _references(self) -> HelpdeskConfig:
        problems: list[str] = []
        team_ids = [t.id for t in self.teams]
        if len(set(team_ids)) != len(team_ids):
            problems.append("teams: duplicate team id")
        agent_ids = [a.id for a in self.agents]
        if len(set(agent_ids)) != len(agent_ids):
            problems.append("agents: duplicate agent id")
        if "default" not in self.calendars:
            problems.append("calendars: a calendar named 'default' is required")
        for team in self.teams:
            if team.calendar not in self.calendars:
                problems.append(f"teams.{team.id}.calendar: unknown calendar {team.calendar!r}")
            if team.fallback_team is not None and team.fallback_team not in team_ids:
                problems.append(f"teams.{team.id}.fallback_team: unknown team {team.fallback_team!r}")
            if team.lead is not None and team.lead not in agent_ids:
                problems.append(f"teams.{team.id}.lead: unknown agent {team.lead!r}")
        for agent in self.agents:
            problems += [
                f"agents.{agent.id}.teams: unknown team {t!r}" for t in agent.teams if t not in team_ids
            ]
            if agent.calendar is not None and agent.calendar not in self.calendars:
                problems.append(f"agents.{agent.id}.calendar: unknown calendar {agent.calendar!r}")
        if self.routing.default_team is not None and self.routing.default_team not in team_ids:
            problems.append(f"routing.default_team: unknown team {self.routing.default_team!r}")
        for rule in self.routing.rules:
            for name in (rule.then.team, rule.then.fallback_team):
                if name is not None and name not in team_ids:
                    problems.append(f"routing.rules.{rule.name}: unknown team {name!r}")
            if rule.when.calendar not in self.calendars:
                problems.append(
                    f"routing.rules.{rule.name}.when.calendar: unknown calendar {rule.when.calendar!r}"
                )
        policy_names = [p.name for p in self.sla.policies]
        for policy in self.sla.policies:
            if policy.calendar is not None and policy.calendar not in self.calendars:
                problems.append(f"sla.policies.{policy.name}.calendar: unknown calendar {policy.calendar!r}")
            for step in policy.escalation:
                if step.reassign_team is not None and step.reassign_team not in team_ids:
                    problems.append(
                        f"sla.policies.{policy.name}.escalation: unknown team {step.reassign_team!r}"
                    )
        for rule in self.routing.rules:
            if rule.then.sla_policy is not None and rule.then.sla_policy not in policy_names:
                problems.append(
                    f"routing.rules.{rule.name}.sla_policy: unknown SLA policy {rule.then.sla_policy!r}"
                )
        problems += self._digest_problems(team_ids)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _digest_problems(self, team_ids: list[str]) -> list[str]:
        teams = [d.team for d in self.reports.digests]
        problems = [
            f"reports.digests: unknown team {t!r} (a team id or `all`)"
            for t in teams
            if t != "all" and t not in team_ids
        ]
        problems += [
            f"reports.digests: more than one digest of {t!r}"
            for t in sorted(set(teams))
            if teams.count(t) > 1
        ]
        return problems

    def sla_policy(self, name: str) -> SlaPolicyConfig | None:
        return next((p for p in self.sla.policies if p.name == name), None)

    def team(self, team_id: str) -> TeamConfig | None:
        return next((t for t in self.teams if t.id == team_id), None)

    def day_zone(self, team_id: str | None) -> str:
        """The time zone whose local days a ticket of the team (None: no team) counts on in reports."""
        found = self.team(team_id) if team_id and self.reports.days == "team" else None
        return self.calendars[found.calendar].timezone if found is not None else self.reports.timezone

    def agent(self, agent_id: str) -> AgentConfig | None:
        return next((a for a in self.agents if a.id == agent_id), None)
