"""Dataset errors: one base class so callers (CLI, demos) can catch every data problem at once."""

from __future__ import annotations


class DatasetError(Exception):
    """Base class of every error raised by `ednas_tf.data`."""


class UnknownDatasetError(DatasetError, ValueError):
    """The dataset name is not registered (the message lists the available names)."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The data files are not where we looked (the message lists every place looked at)."""


class DatasetFormatError(DatasetError, ValueError):
    """The data exists but is malformed: corrupt file, missing key, bad shape or value range."""
