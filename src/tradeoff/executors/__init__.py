"""Cells as scheduler jobs through submitit: SLURM on a cluster, separate processes locally.

The same cells as :func:`tradeoff.grid.run_grid`, one job each, writing the same records:

* ``jobs``: what the executors share: a cell's resources, the jobs folder
  (``<results_dir>/jobs/``), the ledger of submissions, submitit's result files;
* ``slurm``: SLURM's side: the sbatch script, ``sbatch --test-only`` before anything is
  submitted, job states from ``sacct`` and ``squeue``;
* ``states``: where each cell stands (``tradeoff grid --status``), dead jobs recorded as failed;
* ``submit``: submitting (``tradeoff grid --executor``), and what each job runs.
"""

from ..grid import is_scheduler_failure
from .jobs import EXECUTORS, group_cells, jobs_folder, Resources, resources_for
from .slurm import check_with_scheduler, refusal, slurm_parameters, slurm_script, slurm_states
from .states import cell_states, CellState, status_counts
from .submit import describe_plan, make_executor, plan_grid, run_cell_job, submit_grid

__all__ = ["EXECUTORS", "CellState", "Resources", "cell_states", "check_with_scheduler",
           "describe_plan", "group_cells", "refusal", "resources_for", "slurm_states",
           "is_scheduler_failure", "jobs_folder", "make_executor", "plan_grid", "run_cell_job",
           "slurm_parameters", "slurm_script", "status_counts", "submit_grid"]
