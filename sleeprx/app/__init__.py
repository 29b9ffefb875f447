"""The application layer: the command line and the pipeline files, thin over the
library. Flag names and file layouts of runs live here, never below."""
