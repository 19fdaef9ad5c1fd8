"""The package version, apart from everything else so any module may read it without cycles."""

__version__ = "0.1.0"
