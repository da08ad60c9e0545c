"""Ctrl-C (SIGINT) or SIGTERM during training: save a checkpoint at the end of the step, then stop.

Without this an interrupted run loses every step since the last periodic checkpoint. The first signal
asks the Trainer to save and stop cleanly; the handlers are restored at once, so a second Ctrl-C stops
immediately the usual way. Signal handlers can only be set from the main thread; elsewhere (a training
thread) the callback does nothing and the periodic checkpoints remain the safety net.
"""

from __future__ import annotations

import signal
import threading

from transformers import TrainerCallback

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SaveOnInterrupt(TrainerCallback):
    """A ``TrainerCallback`` that turns SIGINT/SIGTERM into "save a checkpoint and stop"."""

    def __init__(self) -> None:
        self.received: int | None = None  # the signal number, once one arrived
        self._previous: dict[int, object] = {}

    def on_train_begin(self, args, state, control, **kwargs):
        self.received = None
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}

    def on_step_end(self, args, state, control, **kwargs):
        if self.received is not None:
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self.restore()

    def _handle(self, signum, frame) -> None:
        self.received = signum
        self.restore()  # a second signal acts as usual
        name = signal.Signals(signum).name
        print(
            f"\n[genai-course] {name}: saving a checkpoint after this step, then stopping "
            "(press Ctrl-C again to stop at once, without saving).",
            flush=True,
        )

    def restore(self) -> None:
        """Put back the handlers found at the start (also after a run that ended in an exception)."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
