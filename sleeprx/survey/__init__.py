"""The survey: its description (columns, target, modifiable factors with safe ranges),
reading and validating a survey file against it, the words used to show it, and the
effect curves of the factors as plain data.

Every other layer reads these types; this package imports only :mod:`sleeprx.utils`.
"""
