"""Tests against the shared real-world email corpus (../shared/corpus/email, not part of the repo)."""
