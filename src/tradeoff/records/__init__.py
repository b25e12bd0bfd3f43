"""The study's record schemas and their files: one owner for every schema.

- :mod:`.run`: a grid cell's :class:`RunRecord`, its :class:`Efficiency` and its typed parts
  (:class:`TrainSummary`, :class:`InferenceSummary`, :class:`ModelInfo`, :class:`DataInfo`,
  :class:`EnvInfo`, :class:`EnergyWindow`);
- :mod:`.ceiling`: a ceiling or baseline's :class:`CeilingRecord`;
- :mod:`.reference`: the committed reference rows (counted cost, knob memory and speed), their
  memory model, and the one reader and writer of every file under ``reference/``;
- :mod:`.published`: the published scores' schema, read by that same reader;
- :mod:`.io`: atomic writes and validated reads, shared by every kind.

:mod:`.reference` and :mod:`.published` are imported by their full names (they need pandas).
"""

from .ceiling import (
    CEILING_SCHEMA_VERSION,
    CEILINGS_FOLDER,
    CeilingRecord,
    ceiling_record_path,
    load_ceiling_record,
    load_ceiling_records,
)
from .io import read_record, save_record, write_atomically
from .run import (
    AVG_POWER,
    CPU_UTIL,
    EFFICIENCY_COLUMNS,
    ENERGY_KWH,
    GPU_MEM,
    GPU_POWER_EFFICIENCY,
    GPU_UTIL,
    INFER_SPEED,
    POWER_EFFICIENCY,
    RSS,
    SCHEMA_VERSION,
    STEADY_SPEED,
    TRAIN_ENERGY_J,
    TRAIN_SPEED,
    TRAIN_TIME,
    DataInfo,
    Efficiency,
    EnergyWindow,
    EnvInfo,
    Example,
    InferenceSummary,
    KnobEffect,
    KnobInfo,
    ModelInfo,
    RunRecord,
    TeacherForcedPass,
    TrainSummary,
    load_record,
    load_records,
    record_path,
)

__all__ = [
    "AVG_POWER",
    "CEILINGS_FOLDER",
    "CEILING_SCHEMA_VERSION",
    "CPU_UTIL",
    "CeilingRecord",
    "DataInfo",
    "EFFICIENCY_COLUMNS",
    "ENERGY_KWH",
    "Efficiency",
    "EnergyWindow",
    "EnvInfo",
    "Example",
    "GPU_MEM",
    "GPU_POWER_EFFICIENCY",
    "GPU_UTIL",
    "INFER_SPEED",
    "InferenceSummary",
    "KnobEffect",
    "KnobInfo",
    "ModelInfo",
    "POWER_EFFICIENCY",
    "RSS",
    "RunRecord",
    "SCHEMA_VERSION",
    "STEADY_SPEED",
    "TRAIN_ENERGY_J",
    "TRAIN_SPEED",
    "TRAIN_TIME",
    "TeacherForcedPass",
    "TrainSummary",
    "ceiling_record_path",
    "load_ceiling_record",
    "load_ceiling_records",
    "load_record",
    "load_records",
    "read_record",
    "record_path",
    "save_record",
    "write_atomically",
]
