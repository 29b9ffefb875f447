"""Batch prescriptions for large cohorts: chunks of rows on Dask, parts in Parquet.

:func:`prescribe_batch` gives the table of :func:`sleeprx.prescribing.run.prescribe` for a
survey file of any size with flat memory, in parallel, and finishes a run that was
killed (``resume=True``). See :mod:`sleeprx.batch.engine`. A pipeline's sweeps run
in chunks of people on the same engine (:mod:`sleeprx.batch.sweeps`).
"""

from sleeprx.batch.engine import BatchResult, parts_dir, prescribe_batch

__all__ = ["BatchResult", "parts_dir", "prescribe_batch"]
