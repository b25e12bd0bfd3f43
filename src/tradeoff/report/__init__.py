"""What the book shows: chapters' parameters, provenance, tables, figures, lab pages and style.

Modules by concern: :mod:`.chapter` (a chapter's parameters, checked, and its records),
:mod:`.provenance` (every banner and provenance line), :mod:`.tables`, :mod:`.figures`,
:mod:`.figure_data` (every figure's data as plotted, and its CSV link), :mod:`.setup` (the
data views of the setup chapter), :mod:`.lab` (the lab pages) and :mod:`.style`.
"""
