"""The application layer: the command line, the pipeline files' schema
(:mod:`sleeprx.app.config`) and the run they describe, thin over the library. Flag
names and file layouts of runs live here, never below."""
