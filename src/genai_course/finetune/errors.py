"""The errors and warnings fine-tuning raises: each says what is wrong and what to do about it."""

from __future__ import annotations


class FinetuneError(ValueError):
    """Bad input to fine-tuning (data, settings, output folder, checkpoint), with what to do about it."""


class TruncationWarning(UserWarning):
    """Some training examples were longer than allowed and were cut."""
