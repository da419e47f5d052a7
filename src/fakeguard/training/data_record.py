"""Every checkpoint of a run records the data config it was trained on (`fakeguard_data`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L

from fakeguard.models.checkpoint import DATA_KEY, data_record


class DataRecord(L.Callback):
    """Writes the run's data config (`data_record`) into every checkpoint it saves."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.record = data_record(data)

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[DATA_KEY] = self.record
