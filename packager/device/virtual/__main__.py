"""`python -m packager.device.virtual [PORT]`: serve a virtual handset until killed."""

from packager.device.virtual.handset import main

main()
