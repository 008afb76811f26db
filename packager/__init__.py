"""Android-companion model packager and mobile test kit."""

from importlib import metadata as _metadata

DISTRIBUTION = "android-model-packager"  # the name on the package index; "packager" is someone else's
DEVICE_DISTRIBUTION = "android-model-packager-device"  # the device kit alone (packager.device.farm.kit_wheel)

INSTALLED = DISTRIBUTION  # which of the two holds this package
__version__ = "0.0.0+source"  # running from a source tree that is not installed
for _name in (DISTRIBUTION, DEVICE_DISTRIBUTION):
    try:
        __version__ = _metadata.version(_name)
    except _metadata.PackageNotFoundError:
        continue
    INSTALLED = _name
    break
