"""FeatureTensors: the torch side of :class:`~mlengine.feature_column.EncodedFeatures`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mlengine.feature_column import EncodedFeatures


@dataclass(frozen=True)
class FeatureTensors:
    """Encoded features of ``n`` rows as tensors on one device (see FeatureTransformer)."""

    sparse_ids: torch.Tensor
    sparse_weights: torch.Tensor
    dense: torch.Tensor
    embedding_ids: tuple[torch.Tensor, ...]
    embedding_weights: tuple[torch.Tensor, ...]

    @classmethod
    def from_encoded(
        cls, encoded: EncodedFeatures, device: torch.device | str = "cpu"
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

    @property
    def num_rows(self) -> int:
        return int(self.dense.shape[0])

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

    def slice(self, start: int, stop: int) -> FeatureTensors:
        """Rows ``[start, stop)`` as views (no copy)."""
        return FeatureTensors(
            self.sparse_ids[start:stop],
            self.sparse_weights[start:stop],
            self.dense[start:stop],
            tuple(t[start:stop] for t in self.embedding_ids),
            tuple(t[start:stop] for t in self.embedding_weights),
        )
