"""The one exception family of sleeprx.

Every error a user can cause derives from :class:`SleeprxError` and from the
built-in exception it resembles, so callers may catch either.
"""

from __future__ import annotations


class SleeprxError(Exception):
    """Base class of every error sleeprx raises on purpose."""


class DescriptionError(SleeprxError, ValueError):
    """A survey description (YAML) is malformed or inconsistent."""


class SurveyError(SleeprxError, ValueError):
    """A survey file does not match its description."""


class ModelMismatchError(SleeprxError, ValueError):
    """A survey or description does not match the one a model was trained with."""


class ArtifactError(SleeprxError, OSError):
    """A model folder is missing files or holds unreadable ones."""


class ConfigError(SleeprxError, ValueError):
    """A pipeline or prescription setting is invalid."""


class SolverError(SleeprxError, RuntimeError):
    """The MIP solver failed in a way that is not a property of the problem."""
