"""Android-companion model packager and mobile test kit."""
