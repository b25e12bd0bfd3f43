"""Build the book: papermill runs the grid, then the chapters, then jupyter-book renders HTML.

Layout of a build folder (``_build`` by default)::

    <build_dir>/
      src/                      the staged book that jupyter-book builds (stage.py)
        _config.yml _toc.yml    copied from the repository (config gets a provenance banner)
        book/                   the prose pages and references.bib
        lab/<nn>-<dataset>-<model>.ipynb   notebooks/run.ipynb executed per dataset x model,
                                      numbered in grid order (pages.py, schedule.py)
        notebooks/<chapter>.ipynb     the chapters _toc.yml lists, executed with the profile
      _build/html/index.html    the rendered book
      profiles/<name>.yaml      a profile that is not in params/ (handed to the kernels)
      build-report.json         what the last build executed, reused and failed (build_report.py)
      ceilings-key.txt          the inputs' hash of the last ceilings step (cache.py)

The modules, in the order a build uses them: ``build`` (the recipe, top to bottom), ``pages``
(which pages the book has), ``schedule`` (which notebooks run, and which at once), ``execute``
(one notebook through papermill), ``cache`` (what is reused between builds and why), ``stage``
(the staged book), ``build_report`` (what a build did).
"""

from ..errors import BookError
from .build import build_book, plan_book
from .build_report import BuildReport, NotebookRun, read_report, REPORT_NAME
from .cache import chapter_inputs, reference_inputs
from .pages import CHAPTER_SOURCES, CHAPTERS, chapter_sources, lab_groups, lab_names

__all__ = ["BookError", "BuildReport", "CHAPTER_SOURCES", "CHAPTERS", "NotebookRun",
           "REPORT_NAME", "build_book", "chapter_inputs", "chapter_sources", "lab_groups",
           "lab_names", "plan_book", "read_report", "reference_inputs"]
