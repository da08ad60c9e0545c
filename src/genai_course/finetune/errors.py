"""The errors and warnings fine-tuning raises: each says what is wrong and what to do about it."""

from __future__ import annotations

from typing import Any


class FinetuneError(ValueError):
    """Bad input to fine-tuning (data, settings, output folder, checkpoint), with what to do about it."""


class TruncationWarning(UserWarning):
    """Some training examples were longer than allowed and were cut."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training was stopped by Ctrl-C/SIGTERM *after* a checkpoint was saved.

    A ``KeyboardInterrupt``, so the caller's code (a notebook cell, a script) stops as the user asked,
    instead of carrying on with a half-trained model; ``result`` holds that model and its losses, and
    ``checkpoint`` the folder a resume continues from.
    """

    def __init__(self, message: str, result: Any = None, checkpoint: Any = None):
        super().__init__(message)
        self.result = result
        self.checkpoint = checkpoint
