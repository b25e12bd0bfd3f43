"""Peak arithmetic rates of the GPUs a record may come from, for model FLOPs utilization (MFU).

MFU here is counted model FLOPs per second (the cost model's ``FlopCounterMode`` count over
measured time; recomputation under gradient checkpointing is not counted) over the GPU's
dense peak for the precision the matmuls ran in: fp32 without TF32 runs on the CUDA cores, TF32
and bf16/fp16 on the tensor cores. The peaks are NVIDIA's datasheet figures without
structured sparsity (the datasheets print the sparse figure, twice the dense one, for the
tensor cores).
"""

from __future__ import annotations

from dataclasses import dataclass

# Datasheet peaks in TFLOP/s, dense. H100 SXM5 and H200 share the chip and clocks (132 SMs):
# NVIDIA H100 datasheet (SXM5 column: FP32 67, TF32 989 / BF16 1979 / FP16 1979 with
# sparsity) and the H200 product page (the same figures); H100 PCIe: FP32 51, TF32 756 /
# BF16 1513 with sparsity. A card is matched by the first key its name contains.
_SOURCE = "NVIDIA datasheet, dense (no sparsity)"
GPU_PEAK_TFLOPS = {
    "H100 PCIe": {"fp32": 51.2, "tf32": 378.0, "bf16": 756.5, "fp16": 756.5},
    "H200": {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4},
    "H100": {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4},
}
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


@dataclass(frozen=True)
class PeakRate:
    """A GPU's dense peak for one precision, named."""

    gpu: str
    precision: str
    tflops: float
    source: str = _SOURCE

    @property
    def name(self) -> str:
        """E.g. ``'H100 dense FP32 peak, 66.9 TFLOP/s'``."""
        return f"{self.gpu} dense {self.precision.upper()} peak, {self.tflops:g} TFLOP/s"


def matmul_precision(variant: str, tf32: bool) -> str:
    """The precision a cell's matmuls ran in: the knob's (bf16, fp16), else TF32 where the cell
    allowed it, else fp32 (``torch.set_float32_matmul_precision('highest')``)."""
    if variant in ("bf16", "fp16"):
        return variant
    return "tf32" if tf32 else "fp32"


def peak_rate(gpu_name: str | None, precision: str) -> PeakRate | None:
    """The dense peak of the card named ``gpu_name`` (``torch.cuda.get_device_name``) for
    ``precision``; None for a card without a known peak (a CPU, say)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; valid: {', '.join(PRECISIONS)}")
    for key, peaks in GPU_PEAK_TFLOPS.items():
        if gpu_name and key in gpu_name:
            return PeakRate(key, precision, peaks[precision])
    return None
