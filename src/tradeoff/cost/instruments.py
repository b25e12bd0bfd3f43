"""The counting instruments: FLOPs and the bytes autograd saves for backward, of any call.

* **FLOPs** come from ``torch.utils.flop_counter.FlopCounterMode`` run on real tensors. It counts
  matmul-like ops only (``mm``, ``addmm``, ``bmm``, ``baddbmm``, convolutions and the attention
  kernels it has a formula for), at 2 FLOPs per multiply-add; softmax, layer norm, GELU, dropout,
  the loss and the optimizer step are not counted. It has no formula for the CPU fused attention
  kernel (``aten._scaled_dot_product_flash_attention_for_cpu``), which would count as 0 without a
  warning, so a guard raises if an attention kernel without a formula runs (models are built
  with ``attn_implementation="eager"``: :mod:`.depth`).
* **Saved activations** are the bytes autograd keeps for backward at the end of a training
  forward pass, seen through ``torch.autograd.graph.saved_tensors_hooks``, deduplicated by storage
  (block-sparse attention saves many views of one storage) and excluding parameters and buffers.
  Dropout masks are included when the dropout is above 0, at the size CUDA saves them: on a GPU,
  ``dropout`` runs the fused ``native_dropout`` kernel and saves a 1-byte bool mask, while on a
  CPU it multiplies by a 4-byte float noise tensor and saves that; counts run dropout through
  ``native_dropout`` so the bytes are the GPU's (see :func:`gpu_dropout`).

Nothing here knows an architecture: :mod:`.architecture` and :mod:`.knob_memory` use these on
their builds.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

class _SavedTensors:
    """Records what autograd saves for backward, to count it once per storage.

    Each saved tensor is wrapped in a holder that autograd keeps; a weak reference to the holder
    tells whether the graph still holds it (a graph branch freed during forward releases its
    holders), and keeping the tensor in the holder keeps its storage address from being reused
    while counting.
    """

    class _Holder:
        __slots__ = ("__weakref__", "tensor")

        def __init__(self, tensor):
            self.tensor = tensor

    def __init__(self, excluded_storages: set[int]):
        self.excluded = excluded_storages
        self.holders: list[weakref.ref] = []

    def pack(self, tensor):
        holder = self._Holder(tensor)
        self.holders.append(weakref.ref(holder))
        return holder

    @staticmethod
    def unpack(holder):
        return holder.tensor

    def storages(self) -> dict[int, int]:
        """Live saved storages, data pointer -> bytes, parameters and buffers left out."""
        found = {}
        for ref in self.holders:
            holder = ref()
            if holder is None:
                continue
            storage = holder.tensor.untyped_storage()
            pointer = storage.data_ptr()
            if pointer and pointer not in self.excluded:
                found[pointer] = storage.nbytes()
        return found

    def nbytes(self) -> int:
        return sum(self.storages().values())


@dataclass(frozen=True)
class StepCount:
    """FLOPs and saved bytes of one forward + backward (see ``count_training_step``)."""

    forward_flops: int
    step_flops: int  # forward + backward
    saved_bytes: int  # saved for backward at the end of forward, once per storage
    forward_by_group: dict  # group name -> forward FLOPs inside that group's modules
    saved_storages: frozenset  # data pointers of the saved storages


def _flop_counter():
    """A ``FlopCounterMode`` and a guard against attention kernels it cannot count."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    return counter, _uncounted_attention_guard(counter.flop_registry)


@contextmanager
def _group_flops(counter, groups: dict[str, Sequence]):
    """Forward FLOPs counted inside each group of modules, by hooks on the modules themselves.

    The counter's own per-module table is not used: its names depend on which module is called
    first (``generate`` calls the encoder on its own, renaming every encoder module), and its
    backward attribution is unreliable (in a one-layer LED it charged encoder backward matmuls
    to the decoder's embeddings). Modules of one group must not nest.
    """
    totals = {name: 0 for name in groups}
    started = {}
    handles = []
    for name, modules in groups.items():
        for module in modules:
            def pre(module, args, name=name):
                started[(name, id(module))] = counter.get_total_flops()

            def post(module, args, output, name=name):
                totals[name] += counter.get_total_flops() - started.pop((name, id(module)))

            handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        yield totals
    finally:
        for handle in handles:
            handle.remove()


def _raise_if_uncounted(guard, what: str) -> None:
    if guard.uncounted:
        raise RuntimeError(f"{what}: attention kernels without a FLOP formula ran "
                           f"({', '.join(sorted(guard.uncounted))}); FlopCounterMode would count "
                           "them as 0. Build the model with attn_implementation='eager'.")


def count_training_step(forward: Callable[[], Any], loss_of: Callable[[Any], Any] = lambda out: out,
                        exclude: Iterable = (), groups: dict[str, Sequence] | None = None,
                        ) -> tuple[StepCount, Any]:
    """Count the FLOPs of a forward + backward and the bytes saved for backward.

    FLOPs are counted by ``FlopCounterMode``: matmul-like ops only, 2 FLOPs per multiply-add.
    Saved bytes are what autograd holds at the end of the forward, once per storage (views of
    one storage count once), leaving out the storages of ``exclude`` (parameters, buffers).

    Args:
        forward: runs the forward pass and returns its output.
        loss_of: maps the output to the scalar to call ``backward`` on.
        exclude: tensors whose storages are not counted as saved.
        groups: named groups of modules whose forward FLOPs are wanted separately.

    Returns:
        ``(counts, output)``.

    Raises:
        RuntimeError: an attention kernel without a FLOP formula ran (it would count as 0).
    """
    import torch

    tracker = _SavedTensors({t.untyped_storage().data_ptr() for t in exclude})
    counter, guard = _flop_counter()
    with counter, guard:
        with _group_flops(counter, groups or {}) as by_group, \
                torch.autograd.graph.saved_tensors_hooks(tracker.pack, tracker.unpack):
            output = forward()
        forward_flops = counter.get_total_flops()
        saved = tracker.storages()
        loss_of(output).backward()
        step_flops = counter.get_total_flops()
    _raise_if_uncounted(guard, "training step")
    counts = StepCount(forward_flops=int(forward_flops), step_flops=int(step_flops),
                       saved_bytes=sum(saved.values()), forward_by_group=dict(by_group),
                       saved_storages=frozenset(saved))
    return counts, output


def count_flops(fn: Callable[[], Any], groups: dict[str, Sequence] | None = None,
                ) -> tuple[int, dict[str, int], Any]:
    """Count the FLOPs of ``fn()`` (matmul-like ops only, 2 FLOPs per multiply-add).

    Args:
        fn: the call to count.
        groups: named groups of modules whose forward FLOPs are wanted separately.

    Returns:
        ``(total, by_group, output)``.

    Raises:
        RuntimeError: an attention kernel without a FLOP formula ran (it would count as 0).
    """
    counter, guard = _flop_counter()
    with counter, guard, _group_flops(counter, groups or {}) as by_group:
        output = fn()
    _raise_if_uncounted(guard, "counted call")
    return int(counter.get_total_flops()), dict(by_group), output


def saved_tensor_bytes(fn: Callable, *args, exclude: Iterable = (), **kwargs) -> tuple[Any, int]:
    """Run ``fn`` and count the bytes autograd saves for its backward, once per storage.

    Args:
        fn: a callable building an autograd graph (e.g. a module).
        *args: its positional arguments.
        exclude: tensors whose storages are not counted (e.g. ``module.parameters()``).
        **kwargs: its keyword arguments.

    Returns:
        ``(output, nbytes)``: the output (its graph still alive) and the saved bytes.
    """
    import torch

    tracker = _SavedTensors({t.untyped_storage().data_ptr() for t in exclude})
    with torch.autograd.graph.saved_tensors_hooks(tracker.pack, tracker.unpack):
        output = fn(*args, **kwargs)
    return output, tracker.nbytes()


def _uncounted_attention_guard(counted_ops):
    """A dispatch mode that records attention kernels ``FlopCounterMode`` has no formula for."""
    # TorchDispatchMode is what FlopCounterMode itself is built on; it sees the kernels an op
    # decomposes into (``scaled_dot_product_attention`` becomes a fused CPU kernel here).
    from torch.utils._python_dispatch import TorchDispatchMode

    class Guard(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.uncounted: set[str] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = str(func.overloadpacket)
            if ("attention" in name or "scaled_dot_product" in name) \
                    and func.overloadpacket not in counted_ops:
                self.uncounted.add(name)
            return func(*args, **(kwargs or {}))

    return Guard()


@contextmanager
def gpu_dropout():
    """Run ``torch.nn.functional.dropout`` as CUDA does, so saved masks have the GPU's size.

    ATen's ``dropout`` takes the fused ``native_dropout`` kernel only for CUDA (and XPU, lazy,
    privateuse1) tensors with 0 < p < 1 (``is_fused_kernel_acceptable`` in
    ``aten/src/ATen/native/Dropout.cpp``); that kernel saves a bool mask, 1 byte an element. On
    CPU, ``dropout`` multiplies by a float noise tensor and autograd saves it, 4 bytes an
    element. Inside this block dropout calls ``torch.native_dropout``, which runs on CPU too;
    the output has the same distribution and no FLOP count changes (dropout is not counted).
    """
    import torch
    import torch.nn.functional as F

    original = F.dropout

    def dropout(input, p=0.5, training=True, inplace=False):
        if training and 0 < p < 1 and not inplace and input.numel() > 0:
            return torch.native_dropout(input, p, True)[0]
        return original(input, p, training, inplace)

    F.dropout = dropout
    try:
        yield
    finally:
        F.dropout = original


@contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` intra-op threads, then restore the caller's setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)

