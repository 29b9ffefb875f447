"""sleeprx: personal, minimal, feasible sleep-behaviour prescriptions.

Decision support for research, not medical advice.
"""
