"""The template's security properties and IAM policies, read from template.yaml itself.

moto does not enforce IAM, and neither does the simulator, so least privilege is checked here on the
policies as written (decision 46): what each function may do, and who may read or publish what.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulator.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
FUNCTIONS = sorted(name for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function")

READ = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
WRITE = {"dynamodb:PutItem", "dynamodb:UpdateItem"}
TABLE_ACTIONS = {
    # what each function's code path really calls (pynamodb get/batch_get/query, save/update in
    # transactions; route_ticket also deletes queue entries and view entries, agent_api a team's
    # macros)
    "InboundEmailFunction": {"dynamodb:GetItem", "dynamodb:BatchGetItem"} | WRITE,
    "InboundSmsFunction": READ | WRITE,
    "SocialWebhookFunction": READ | WRITE,
    "ReportsFunction": {"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"},
    "ReportExportsFunction": {"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem"},
    # reads like reports; claims and settles delivery markers with conditional updates
    "ReportsScheduleFunction": {
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
    },
    "AgentApiFunction": READ | WRITE | {"dynamodb:DeleteItem"},
    "RouteTicketFunction": READ | WRITE | {"dynamodb:DeleteItem"},
    "SlaSweeperFunction": READ | WRITE | {"dynamodb:DeleteItem"},
    "SlaSweepWorkerFunction": READ | WRITE | {"dynamodb:DeleteItem"},
    "AutoFollowupFunction": READ | WRITE,
    # reads the stream only (the event source mapping's role), writes to S3
    "AnalyticsExportFunction": set(),
    # a connection's items written and removed together (transactions of puts and deletes); on
    # disconnect, the viewer items the connection wrote, queried on gsi1 (decision 113)
    "LiveFunction": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"},
    # the change kept for catching up, the ticket, the connections listed for it, those found gone
    "LivePushFunction": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:DeleteItem"},
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_entries(function: str) -> list[Any]:
    return list(RESOURCES[function]["Properties"].get("Policies") or [])


def statements(function: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for entry in policy_entries(function):
        if isinstance(entry, dict) and "Statement" in entry:
            found += entry["Statement"]
    return found


def allowed(function: str, prefix: str) -> list[dict[str, Any]]:
    """The function's Allow statements with an action starting with `prefix`."""
    return [
        s
        for s in statements(function)
        if s["Effect"] == "Allow" and any(str(a).startswith(prefix) for a in _as_list(s["Action"]))
    ]


def refers_to(value: Any, logical_id: str) -> bool:
    """Whether an intrinsic (Ref, GetAtt, Sub) or a list of them names `logical_id`."""
    if isinstance(value, list):
        return any(refers_to(v, logical_id) for v in value)
    if isinstance(value, dict):
        if value.get("Ref") == logical_id:
            return True
        if "Fn::GetAtt" in value:
            return _as_list(value["Fn::GetAtt"])[0] == logical_id
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            return f"${{{logical_id}" in text
        return any(refers_to(v, logical_id) for v in value.values())
    return False


def test_no_function_uses_a_crud_policy_template() -> None:
    # Given every function's policies, When they are read, Then none grants a whole CRUD set
    for function in FUNCTIONS:
        templates = {next(iter(e)) for e in policy_entries(function) if isinstance(e, dict)} - {"Statement"}
        assert not templates & {"DynamoDBCrudPolicy", "SESCrudPolicy", "S3CrudPolicy"}, function


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_gets_exactly_the_table_actions_it_uses(function: str) -> None:
    granted = {a for s in allowed(function, "dynamodb:") for a in _as_list(s["Action"])}
    assert granted == TABLE_ACTIONS[function]
    assert not granted & {"dynamodb:Scan", "dynamodb:BatchWriteItem", "dynamodb:DeleteTable", "dynamodb:*"}
    for statement in allowed(function, "dynamodb:"):
        assert all(refers_to(r, "TicketsTable") for r in _as_list(statement["Resource"]))


def test_the_public_webhook_cannot_delete_scan_or_batch_write() -> None:
    granted = {a for s in allowed("SocialWebhookFunction", "dynamodb:") for a in _as_list(s["Action"])}
    assert not granted & {"dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:BatchWriteItem"}


def test_auto_followup_publishes_sms_to_phone_numbers_and_never_to_a_topic() -> None:
    sns = [s for s in statements("AutoFollowupFunction") if "sns:Publish" in _as_list(s["Action"])]
    denies = [s for s in sns if s["Effect"] == "Deny"]
    # an explicit deny of every SNS ARN (topics, platform endpoints) beats any allow
    assert [d["Resource"] for d in denies] == [{"Fn::Sub": "arn:${AWS::Partition}:sns:*:*:*"}]
    assert not any(refers_to(s, "InboundMailTopic") or refers_to(s, "InboundSmsTopic") for s in sns)


def test_end_user_messaging_sends_only_from_the_configured_origination_identities() -> None:
    [origins] = [
        s for s in allowed("AutoFollowupFunction", "sms-voice:") if s["Sid"] == "SendSmsWithEndUserMessaging"
    ]
    condition, all_of_account, configured = origins["Resource"]["Fn::If"]
    assert condition == "AllSmsOrigins"
    assert configured == {"Ref": "SmsOriginationIdentities"}
    for arn in all_of_account:
        assert ":${AWS::Region}:${AWS::AccountId}:" in arn["Fn::Sub"]
    for statement in allowed("AutoFollowupFunction", "sms-voice:"):
        assert statement["Resource"] != "*"


def test_only_the_sweeper_and_the_reports_schedule_publish_each_to_its_one_topic() -> None:
    topics = {"SlaSweepWorkerFunction": "EscalationTopic", "ReportsScheduleFunction": "AlarmTopic"}
    for function in FUNCTIONS:
        for statement in allowed(function, "sns:"):
            if function in topics:
                assert statement["Resource"] == {"Ref": topics[function]}
            else:
                assert function == "AutoFollowupFunction"  # phone numbers, see above


def test_the_reports_schedule_writes_only_digest_pages_and_sends_only_as_the_support_domain() -> None:
    # Given the schedule's policy: S3 puts under digests/ of its bucket, nothing else of S3
    [s3] = allowed("ReportsScheduleFunction", "s3:")
    assert (s3["Action"], s3["Resource"]) == ("s3:PutObject", {"Fn::Sub": "${DigestsBucket.Arn}/digests/*"})
    # SES only from the support domain's identities, like auto_followup
    [ses] = allowed("ReportsScheduleFunction", "ses:")
    [followup_ses] = allowed("AutoFollowupFunction", "ses:")
    assert (ses["Action"], ses["Resource"]) == (followup_ses["Action"], followup_ses["Resource"])
    # the key only through S3 and SNS
    services = {
        s["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Sub"]
        for s in allowed("ReportsScheduleFunction", "kms:")
    }
    assert services == {"s3.${AWS::Region}.amazonaws.com", "sns.${AWS::Region}.amazonaws.com"}


def test_the_digests_bucket_is_private_encrypted_with_the_key_and_expires() -> None:
    props = RESOURCES["DigestsBucket"]["Properties"]
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["HelpdeskKey", "Arn"]},
    }
    assert all(props["PublicAccessBlockConfiguration"].values())
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-digests"]["Prefix"] == "digests/"
    assert rules["expire-digests"]["ExpirationInDays"] > 0


@pytest.mark.parametrize(
    ("secret", "reader"),
    [("WebhookSecret", "SocialWebhookFunction"), ("OutboundSecret", "AutoFollowupFunction")],
)
def test_each_secret_is_readable_by_its_one_function(secret: str, reader: str) -> None:
    # Given the IAM policies: only `reader` is granted GetSecretValue on the secret
    readers = [
        function
        for function in FUNCTIONS
        for statement in allowed(function, "secretsmanager:")
        if refers_to(statement["Resource"], secret)
    ]
    assert readers == [reader]
    assert all(
        statement["Resource"] != "*"
        for function in FUNCTIONS
        for statement in allowed(function, "secretsmanager:")
    )
    # and the secret's own policy denies everyone else (users and other roles of the account too)
    [policy] = [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::SecretsManager::ResourcePolicy"
        and refers_to(r["Properties"]["SecretId"], secret)
    ]
    [deny] = policy["ResourcePolicy"]["Statement"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == (
        "Deny",
        "*",
        "secretsmanager:GetSecretValue",
    )
    assert deny["Condition"]["StringNotEquals"]["aws:PrincipalArn"] == {
        "Fn::GetAtt": [f"{reader}Role", "Arn"]
    }
    assert refers_to(RESOURCES[secret]["Properties"]["KmsKeyId"], "HelpdeskKey")


def test_webhook_verification_secrets_and_sending_tokens_are_separate() -> None:
    webhook_env = RESOURCES["SocialWebhookFunction"]["Properties"]["Environment"]["Variables"]
    followup_env = RESOURCES["AutoFollowupFunction"]["Properties"]["Environment"]["Variables"]
    assert webhook_env["WEBHOOK_SECRET_NAME"] == {"Ref": "WebhookSecret"}
    assert followup_env["OUTBOUND_SECRET_NAME"] == {"Ref": "OutboundSecret"}


@pytest.mark.parametrize("topic", ["InboundMailTopic", "InboundSmsTopic", "EscalationTopic"])
def test_topics_with_customer_content_are_encrypted_with_the_key(topic: str) -> None:
    assert RESOURCES[topic]["Properties"]["KmsMasterKeyId"] == {"Ref": "HelpdeskKey"}


def test_the_key_lets_the_publishing_services_in_and_rotates() -> None:
    key = RESOURCES["HelpdeskKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    services = {
        service
        for statement in key["KeyPolicy"]["Statement"]
        for service in _as_list(statement["Principal"].get("Service", []))
        if isinstance(service, str)
    }
    assert {"ses.amazonaws.com", "sms-voice.amazonaws.com", "cloudwatch.amazonaws.com"} <= services
    assert all(statement["Principal"] != "*" for statement in key["KeyPolicy"]["Statement"])


def test_inbound_email_trusts_inline_mail_only_when_the_rule_sends_it() -> None:
    # The receipt rule stores mail in S3 and has no SNS action: no topic is trusted for inline mail
    actions = RESOURCES["InboundMailReceiptRule"]["Properties"]["Rule"]["Actions"]
    assert [next(iter(a)) for a in actions] == ["S3Action"]
    env = RESOURCES["InboundEmailFunction"]["Properties"]["Environment"]["Variables"]
    assert env["INLINE_MAIL_TOPIC_ARN"] == ""


def test_the_bucket_keeps_versions_and_everything_expires_with_the_raw_mail() -> None:
    bucket = RESOURCES["InboundMailBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = bucket["LifecycleConfiguration"]["Rules"]
    expiring = {r.get("Prefix"): r.get("ExpirationInDays") for r in rules if "ExpirationInDays" in r}
    retention = {"Ref": "RawMailRetentionDays"}
    assert expiring == dict.fromkeys(("raw/", "attachments/", "bodies/", "quarantine/"), retention)
    assert all(r["NoncurrentVersionExpiration"]["NoncurrentDays"] <= 30 for r in rules)


def test_agent_mfa_is_a_parameter_that_defaults_to_required() -> None:
    parameter = TEMPLATE["Parameters"]["AgentMfa"]
    assert parameter["Default"] == "ON"
    assert RESOURCES["AgentUserPool"]["Properties"]["MfaConfiguration"] == {"Ref": "AgentMfa"}


def test_every_checkov_skip_gives_its_reason() -> None:
    for name, resource in RESOURCES.items():
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", []):
            assert skip["id"].startswith("CKV_"), name
            assert len(skip.get("comment", "").split()) >= 8, (name, skip["id"])
