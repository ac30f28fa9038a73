"""The data layer's contract for scheduled delivery markers: the same tests on DynamoDB (moto) and on
the in-memory fake."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.test_dal_contract import T0, Repository, _moto, ms, repo

__all__ = ["_moto", "repo"]  # the fixtures, shared with test_dal_contract

KEY = "digests/support/daily/2026-03-01.html"
KEEP = T0 + timedelta(days=400)


def test_a_key_is_claimed_once_and_settled_only_by_its_claim(repo: Repository) -> None:
    # Given a key never delivered, When it is claimed, Then it is being sent
    assert repo.get_delivery(KEY) is None
    assert repo.claim_delivery(KEY, T0, KEEP)
    claimed = repo.get_delivery(KEY)
    assert claimed is not None
    assert (claimed.state, claimed.claimed_at, claimed.attempts) == ("sending", ms(T0), 1)
    # When another run claims it, Then it is refused (it is being sent)
    assert not repo.claim_delivery(KEY, T0 + timedelta(seconds=5), KEEP)
    # When a claim of another time tries to settle it, Then nothing changes
    assert not repo.settle_delivery(KEY, T0 + timedelta(seconds=5), "sent", "other")
    # When its claim records the send, Then it is sent, and never claimed again
    assert repo.settle_delivery(KEY, T0, "sent", "ses-id-1")
    sent = repo.get_delivery(KEY)
    assert sent is not None
    assert (sent.state, sent.detail) == ("sent", "ses-id-1")
    assert not repo.claim_delivery(KEY, T0 + timedelta(hours=1), KEEP)
    assert not repo.settle_delivery(KEY, T0, "failed", "late")


def test_a_released_claim_is_claimed_again_and_a_failed_one_never(repo: Repository) -> None:
    # Given a claim a transient failure released
    assert repo.claim_delivery(KEY, T0, KEEP)
    assert repo.settle_delivery(KEY, T0, "retry", "Throttling: slow down")
    # When the next run claims it, Then it is its second attempt
    later = T0 + timedelta(minutes=1)
    assert repo.claim_delivery(KEY, later, KEEP)
    again = repo.get_delivery(KEY)
    assert again is not None
    assert (again.state, again.attempts) == ("sending", 2)
    # When that attempt is refused for good, Then no run claims it again
    assert repo.settle_delivery(KEY, later, "failed", "MessageRejected: no")
    assert not repo.claim_delivery(KEY, later + timedelta(minutes=1), KEEP)
    failed = repo.get_delivery(KEY)
    assert failed is not None
    assert (failed.state, failed.detail) == ("failed", "MessageRejected: no")


def test_claims_never_settled_are_found_by_claim_time_until_settled(repo: Repository) -> None:
    # Given two claims ten minutes apart and a third one settled
    assert repo.claim_delivery("a", T0, KEEP)
    assert repo.claim_delivery("b", T0 + timedelta(minutes=10), KEEP)
    assert repo.claim_delivery("c", T0, KEEP)
    assert repo.settle_delivery("c", T0, "sent", "id")
    # Then only the claims at or before the time asked for are stuck, the settled one never
    assert [d.key for d in repo.stuck_deliveries(T0 + timedelta(minutes=5))] == ["a"]
    assert [d.key for d in repo.stuck_deliveries(T0 + timedelta(minutes=10))] == ["a", "b"]
    # When one is settled as unknown with its claim time as read, Then it is no longer stuck
    [stuck, _] = repo.stuck_deliveries(T0 + timedelta(minutes=10))
    assert repo.settle_delivery(stuck.key, stuck.claimed_at, "unknown", "no result recorded")
    assert [d.key for d in repo.stuck_deliveries(T0 + timedelta(minutes=10))] == ["b"]
