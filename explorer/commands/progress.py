"""Training progress on a terminal: a bar redrawn in place, one line per epoch (`train`,
`sweep`)."""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from explorer.core.training import TrainingEvent


class ProgressLine:
    """A progress bar redrawn in place on a terminal; plain lines per epoch otherwise."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.width = min(shutil.get_terminal_size().columns, 120) if self.tty else 0
        self._drawn = False
        self._last = 0.0
        self._epochs = 0

    def show(self, event: TrainingEvent) -> None:
        from explorer.core.training import EpochEnded, Progress, TrainingStarted

        if isinstance(event, TrainingStarted):
            self._epochs = event.epochs
            # The thread count as the run chose it: measured at its start where automatic.
            print(f"training on {event.device}", file=self.stream, flush=True)
        elif isinstance(event, Progress) and self.tty:
            now = time.monotonic()
            if now - self._last >= 0.1:
                self._last = now
                self._draw(event)
        elif isinstance(event, EpochEnded):
            self.close()
            validation = ""
            if event.validation_loss is not None and event.validation_accuracy is not None:
                validation = (
                    f"  val loss {event.validation_loss:.4f}  "
                    f"val acc {100 * event.validation_accuracy:.2f}%"
                )
            print(
                f"epoch {event.epoch}/{self._epochs}  loss {event.train_loss:.4f}  "
                f"acc {100 * event.train_accuracy:.2f}%{validation}  "
                f"{event.elapsed:.1f}s",
                file=self.stream,
                flush=True,
            )

    def _draw(self, event: Any) -> None:
        fraction = event.epoch_fraction
        eta = "" if event.eta != event.eta else f" ETA {_clock(event.eta)}"
        text = (
            f" {100 * fraction:3.0f}%  loss {event.train_loss:.4f}  "
            f"acc {100 * event.train_accuracy:5.2f}%  {event.images_per_second:,.0f} img/s{eta}"
        )
        label = f"epoch {event.epoch}/{self._epochs} "
        bar_width = max(10, self.width - len(label) - len(text) - 3)
        filled = round(bar_width * fraction)
        line = f"{label}[{'#' * filled}{'.' * (bar_width - filled)}]{text}"
        self.stream.write("\r" + line[: self.width - 1])
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * (self.width - 1) + "\r")
            self.stream.flush()
            self._drawn = False


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
