"""FeatureTensors: :class:`~mlengine.feature_column.EncodedFeatures` of torch tensors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mlengine.feature_column import EncodedFeatures


@dataclass(frozen=True)
class FeatureTensors(EncodedFeatures[torch.Tensor]):
    """Encoded features of ``n`` rows as tensors on one device: the transform's layout (the
    fields, ``num_rows``, ``slice`` and ``map`` are :class:`EncodedFeatures`')."""

    @classmethod
    def from_encoded(
        cls, encoded: EncodedFeatures[Any], device: torch.device | str = "cpu"
    ) -> FeatureTensors:
        """Wrap numpy arrays without copying on CPU; copy (pinned, non-blocking) to a GPU."""
        target = torch.device(device)

        def move(array: np.ndarray) -> torch.Tensor:
            tensor = torch.from_numpy(np.ascontiguousarray(array))
            if target.type == "cpu":
                return tensor
            return tensor.pin_memory().to(target, non_blocking=True)

        return cls(
            move(encoded.sparse_ids),
            move(encoded.sparse_weights),
            move(encoded.dense),
            tuple(move(a) for a in encoded.embedding_ids),
            tuple(move(a) for a in encoded.embedding_weights),
        )

    def split(self, size: int) -> list[FeatureTensors]:
        """Consecutive views of ``size`` rows (the last may be shorter): one call per tensor."""
        fields = [
            torch.split(self.sparse_ids, size),
            torch.split(self.sparse_weights, size),
            torch.split(self.dense, size),
            *(torch.split(t, size) for t in self.embedding_ids),
            *(torch.split(t, size) for t in self.embedding_weights),
        ]
        count = len(self.embedding_ids)
        return [
            FeatureTensors(p[0], p[1], p[2], tuple(p[3 : 3 + count]), tuple(p[3 + count :]))
            for p in zip(*fields, strict=True)
        ]
