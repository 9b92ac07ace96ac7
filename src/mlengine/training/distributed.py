"""Data-parallel training under ``torchrun``: process group, gradient all-reduce, exact metrics.

Each rank trains on its own shard of the input with the same model. After every backward pass
one ``all_reduce`` averages all dense gradients at once (they live in one flat buffer; lookup
tables' row-sparse gradients follow, see :class:`GradientSync`) and counts the ranks that
still had a batch: when any rank's input has ended, every
rank stops at that same step, so no rank waits forever in a collective. Rank 0 alone writes
checkpoints, summaries and exports. Collectives time out after ``RunConfig.
distributed_timeout_secs`` (gloo and NCCL both get it), so a killed rank fails the job instead
of hanging it. No object is ever pickled between ranks: only tensors travel.
"""

from __future__ import annotations

import atexit
import datetime
import os
from collections.abc import Mapping, Sequence

import torch
import torch.distributed as dist

from mlengine.training import torch_private
from mlengine.training.sparse_grads import row_gradient, rows_and_values


def world_size() -> int:
    """Processes in the job: ``WORLD_SIZE`` as set by torchrun (1 when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0"))


def is_chief() -> bool:
    """Whether this process writes checkpoints, summaries and exports (rank 0)."""
    return rank() == 0


def local_device(device: torch.device) -> torch.device:
    """``cuda`` becomes this process's GPU (``LOCAL_RANK``) when several share a machine."""
    if device.type == "cuda" and device.index is None and world_size() > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def ensure_process_group(device: torch.device, timeout_secs: float) -> bool:
    """Join the torchrun job (gloo on CPU, NCCL on GPU) once; False when not distributed."""
    if world_size() <= 1 or not dist.is_available():
        return False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local_device(device))
        # A group that exists when torch._dynamo is first imported (torch.optim's Adam imports
        # it at its first step) is referenced for good and never freed, so destroying it at
        # exit leaves gloo's threads running into interpreter teardown, where they can abort
        # the process after a successful run. Imported first, dynamo holds no group.
        torch_private.import_dynamo()

        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_secs))
        atexit.register(_leave_process_group)
    return True


def _leave_process_group() -> None:
    """Destroy the group we joined, and with it gloo's threads, while the interpreter is
    still whole.

    Left to interpreter teardown, gloo's worker threads can outlive the objects they hold and
    the process aborts ("terminate called without an active exception"), failing the job
    after a successful run.
    """
    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Make every rank's weights and buffers rank 0's."""
    with torch.no_grad():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


class GradientSync:
    """Averages every rank's gradients once per step.

    Dense gradients of ``params`` are views of one flat buffer, averaged with one all_reduce.
    The row-sparse gradients of ``tables`` (:mod:`~mlengine.training.sparse_grads`) are
    exchanged as rows or as whole tables, whichever moves fewer numbers: each rank's row
    count travels in that same all_reduce, so every rank takes the same choice, and then

    * rows: every rank's (rows, values) are all-gathered (padded to the longest), summed per
      row and divided by the number of ranks (TensorFlow's all-reduce of ``IndexedSlices`` is
      an all-gather too);
    * table: a ``[rows, width + 1]`` buffer holds each looked-up row's gradient and a 1 in its
      last column, all-reduced; the rows whose count is positive are the union of the rows
      any rank looked up (a row whose gradients cancel is still one that was looked up, and is
      updated, as TensorFlow's sparse kernels would).

    The result is a coalesced row-sparse gradient, the same on every rank.
    """

    def __init__(self, params: Sequence[torch.nn.Parameter], tables: Sequence[torch.Tensor] = ()):
        table_ids = {id(t) for t in tables}
        self.params = [p for p in params if p.requires_grad and id(p) not in table_ids]
        self.tables = [t for t in tables if t.requires_grad]
        self.world = world_size()
        self._rank = rank()
        self._dense = sum(p.numel() for p in self.params)
        device = next(iter([*self.params, *self.tables]), torch.zeros(0)).device
        # [dense gradients, ranks with a batch, each table's row count on each rank]
        self.flat = torch.zeros(self._dense + 1 + len(self.tables) * self.world, device=device)
        offset = 0
        for param in self.params:
            size = param.numel()
            param.grad = self.flat[offset : offset + size].view_as(param)
            offset += size
        self._counts = self.flat[self._dense + 1 :].view(len(self.tables), self.world)

    def all_reduce(self, has_batch: bool) -> bool:
        """Average the gradients; True when every rank had a batch this step."""
        self.flat[self._dense] = 1.0 if has_batch else 0.0
        local = [self._local_rows(table) for table in self.tables]
        self._counts.zero_()
        for i, (rows, _) in enumerate(local):
            self._counts[i, self._rank] = float(len(rows))
        dist.all_reduce(self.flat)
        if float(self.flat[self._dense]) < self.world - 0.5:
            return False
        self.flat[: self._dense].div_(self.world)
        counts = self._counts.tolist()
        for table, (rows, values), table_counts in zip(self.tables, local, counts, strict=True):
            table.grad = self._reduce_table(table, rows, values, [int(c) for c in table_counts])
        return True

    @staticmethod
    def _local_rows(table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if table.grad is None:
            empty = torch.zeros((0, *table.shape[1:]), dtype=table.dtype, device=table.device)
            return torch.zeros(0, dtype=torch.int64, device=table.device), empty
        return rows_and_values(table.grad)

    def _reduce_table(
        self, table: torch.Tensor, rows: torch.Tensor, values: torch.Tensor, counts: list[int]
    ) -> torch.Tensor | None:
        longest = max(counts)
        if longest == 0:
            return None
        width = table[0].numel()
        if self.world * longest * (width + 1) <= table.shape[0] * (width + 1):
            return self._gather_rows(table, rows, values, counts, longest)
        buffer = torch.zeros(table.shape[0], width + 1, dtype=table.dtype, device=table.device)
        buffer[rows, :width] = values.reshape(len(rows), width)
        buffer[rows, width] = 1.0
        dist.all_reduce(buffer)
        touched = torch.nonzero(buffer[:, width]).squeeze(1)
        summed = buffer.index_select(0, touched)[:, :width].div_(self.world)
        return row_gradient(touched, summed.reshape(len(touched), *table.shape[1:]), table.shape)

    def _gather_rows(
        self,
        table: torch.Tensor,
        rows: torch.Tensor,
        values: torch.Tensor,
        counts: list[int],
        longest: int,
    ) -> torch.Tensor:
        padded_rows = torch.zeros(longest, dtype=torch.int64, device=table.device)
        padded_rows[: len(rows)] = rows
        padded_values = torch.zeros(
            (longest, *table.shape[1:]), dtype=table.dtype, device=table.device
        )
        padded_values[: len(rows)] = values
        all_rows = [torch.empty_like(padded_rows) for _ in counts]
        all_values = [torch.empty_like(padded_values) for _ in counts]
        dist.all_gather(all_rows, padded_rows)
        dist.all_gather(all_values, padded_values)
        gathered = torch.sparse_coo_tensor(
            torch.cat([r[:n] for r, n in zip(all_rows, counts, strict=True)]).unsqueeze(0),
            torch.cat([v[:n] for v, n in zip(all_values, counts, strict=True)]),
            tuple(table.shape),
            check_invariants=True,  # rows from other processes: checked before use
        ).coalesce()
        gathered._values().div_(self.world)
        return gathered


def reduce_metric_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Merge every rank's metric state exactly: sums are summed, recorded scores gathered."""
    merged: dict[str, torch.Tensor] = {}
    for key in sorted(state):
        tensor = state[key]
        if tensor.dim() == 0:
            total = tensor.clone()
            dist.all_reduce(total)
            merged[key] = total
        else:
            merged[key] = _all_gather_variable(tensor)
    return merged


def _all_gather_variable(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate 1-d tensors of different lengths from all ranks, in rank order."""
    length = torch.tensor([tensor.shape[0]], device=tensor.device)
    lengths = [torch.zeros_like(length) for _ in range(world_size())]
    dist.all_gather(lengths, length)
    longest = int(max(int(n) for n in lengths))
    padded = torch.zeros(longest, dtype=tensor.dtype, device=tensor.device)
    padded[: tensor.shape[0]] = tensor
    parts = [torch.zeros_like(padded) for _ in lengths]
    dist.all_gather(parts, padded)
    return torch.cat([part[: int(n)] for part, n in zip(parts, lengths, strict=True)])


def broadcast_text(text: str | None, device: torch.device) -> str:
    """Rank 0's string on every rank (as a uint8 tensor: nothing is pickled)."""
    data = (text or "").encode("utf-8") if is_chief() else b""
    size = torch.tensor([len(data)], device=device)
    dist.broadcast(size, src=0)
    buffer = torch.zeros(int(size), dtype=torch.uint8, device=device)
    if is_chief():
        buffer.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    dist.broadcast(buffer, src=0)
    return bytes(buffer.cpu().tolist()).decode("utf-8")


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
