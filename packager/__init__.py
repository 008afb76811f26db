"""Android-companion model packager and mobile test kit."""

from importlib import metadata as _metadata

DISTRIBUTION = "android-model-packager"  # the name on the package index; "packager" is someone else's

try:
    __version__ = _metadata.version(DISTRIBUTION)
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
