"""Counted runs of the full architectures -> reference rows (:mod:`tradeoff.records.reference`).

- :mod:`.instruments`: the FLOP and saved-bytes counting instruments, for any call;
- :mod:`.depth`: random-init builds at reduced depth, and the one extrapolation to full depth;
- :mod:`.architecture`: the architectures' counted runs -> cost rows, and their count cache;
- :mod:`.reference_file`: the cost rows merged into their reference file, with the checks;
- :mod:`.knob_memory`: the memory knobs' counts -> knob-memory rows.

This package builds torch models; :mod:`tradeoff.analysis` never imports it and reads the rows
it writes instead. :mod:`.depth` and :mod:`.reference_file` are modules of their own so that the
knobs' counts share the architectures' builds and extrapolation without importing the
architectures' rows, and so that no module passes a few hundred lines.
"""
