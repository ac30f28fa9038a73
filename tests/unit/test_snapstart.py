"""SnapStart hooks (decision 86), without the Lambda runtime: registration when `snapshot_restore_py`
exists and not otherwise, and what agent_api's and social_webhook's hooks put into the snapshot and
renew after a restore. Lambda runs the hooks itself; here they are called as it would."""

from __future__ import annotations

import json
import random
import sys
import types
from collections.abc import Callable, Iterator

import boto3
import pytest
from moto import mock_aws

from functions.agent_api import app as agent_app
from functions.social_webhook import app as webhook_app
from shared import snapstart
from shared.dal.items import TicketItem
from shared.settings import reset_settings


class FakeRuntimeHooks(types.ModuleType):
    """`snapshot_restore_py` as the Lambda Python runtime provides it: it records the hooks."""

    def __init__(self) -> None:
        super().__init__("snapshot_restore_py")
        self.before: list[Callable[[], None]] = []
        self.after: list[Callable[[], None]] = []

    def register_before_snapshot(self, hook: Callable[[], None]) -> None:
        self.before.append(hook)

    def register_after_restore(self, hook: Callable[[], None]) -> None:
        self.after.append(hook)


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TABLE_NAME", "helpdesk-tickets")
    monkeypatch.setenv("WEBHOOK_SECRET_NAME", "helpdesk-webhooks")
    reset_settings()
    agent_app._agent_context.cache_clear()
    webhook_app._chat_context.cache_clear()
    yield
    reset_settings()
    agent_app._agent_context.cache_clear()
    webhook_app._chat_context.cache_clear()


def test_hooks_register_with_the_lambda_runtime_and_nowhere_else(monkeypatch: pytest.MonkeyPatch) -> None:
    def before() -> None: ...
    def after() -> None: ...

    # Given no Lambda runtime (tests, the simulator): registering does nothing
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # an import of it fails
    assert snapstart.register_hooks(before, after) is False
    # Given the runtime's module: each hook is registered for its moment
    runtime = FakeRuntimeHooks()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    assert snapstart.register_hooks(before, after) is True
    assert (runtime.before, runtime.after) == ([before], [after])


def test_a_restore_reseeds_random_so_environments_do_not_share_a_sequence() -> None:
    # Given the sequence the snapshot's seed would give every restored environment
    random.seed(86)
    shared_sequence = [random.random() for _ in range(4)]
    random.seed(86)
    # When an environment is restored
    snapstart.renew_entropy()
    # Then it draws its own sequence
    assert [random.random() for _ in range(4)] != shared_sequence


def test_agent_api_primes_its_context_and_renews_connections_after_a_restore(function_env: None) -> None:
    # When Lambda takes the snapshot
    agent_app._before_snapshot()
    # Then the context (settings, config, repository) is in it, the same object for every request
    assert agent_app._agent_context.cache_info().currsize == 1
    context = agent_app._agent_context()
    # And no DynamoDB connection was opened for it
    assert TicketItem._connection is None
    # When an environment is restored after a connection was made
    TicketItem._get_connection()
    store = agent_app._blob_store("helpdesk-inbound")
    assert TicketItem._connection is not None
    agent_app._after_restore()
    # Then the connection and the S3 store are dropped (made again on the next request), the
    # context is kept
    assert TicketItem._connection is None
    assert agent_app._blob_store("helpdesk-inbound") is not store
    assert agent_app._agent_context() is context


def test_social_webhook_reads_no_secret_before_the_snapshot_and_rereads_it_after_a_restore(
    function_env: None,
) -> None:
    with mock_aws():
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()  # type: ignore[no-untyped-call]
        # When Lambda takes the snapshot before the secret even exists (a read would fail), the
        # context is made and no secret is read
        webhook_app._before_snapshot()
        assert webhook_app._chat_context.cache_info().currsize == 1
        # Given the secret read (and cached for 5 minutes), then rotated
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        secrets.create_secret(Name="helpdesk-webhooks", SecretString=json.dumps({"meta_app_secret": "old"}))
        assert webhook_app._secret("meta_app_secret") == "old"
        rotated = json.dumps({"meta_app_secret": "new"})
        secrets.put_secret_value(SecretId="helpdesk-webhooks", SecretString=rotated)
        assert webhook_app._secret("meta_app_secret") == "old"
        # When an environment is restored, then the secret is read again
        webhook_app._after_restore()
        assert webhook_app._secret("meta_app_secret") == "new"
        parameters.clear_caches()  # type: ignore[no-untyped-call]
