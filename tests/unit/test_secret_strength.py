"""The prod profile's secret check: sequences and keyboard runs are as guessable as a repeated
word, while a secret drawn at random is never refused."""

from __future__ import annotations

import secrets

import pytest

from rag_core.api.auth import weak_secret_reason


@pytest.mark.parametrize("secret", [
    "0123456789abcdef0123456789abcdef",
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "zyxwvutsrqponmlkjihgfedcba9876543210",
    "qwertyuiopasdfghjklzxcvbnm1234567890",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "QWERTYUIOPqwertyuiopASDFGHJKLasdfghjkl",
    "9876543210fedcba9876543210fedcba98765432",
])
def test_prod_refuses_sequences_and_keyboard_runs(secret: str) -> None:
    reason = weak_secret_reason(secret)
    assert reason is not None and "predictable" in reason
    assert secret not in reason


def test_random_hex_and_urlsafe_secrets_are_always_accepted() -> None:
    refused = [s for _ in range(2_000)
               for s in (secrets.token_hex(32), secrets.token_urlsafe(48))
               if weak_secret_reason(s) is not None]
    assert refused == []
