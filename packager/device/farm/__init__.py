"""Device farms: the device kit where one machine's USB hub ends (docs/DEVICE_FARMS.md).

- `kit_wheel`: the light distribution `android-model-packager-device` (the device kit, the data
  model, the pytest plugin and the report; no TensorFlow, no LiteRT) written as a wheel from this
  installed package;
- `aws`: an AWS Device Farm custom-environment test package (zip: requirements.txt, tests/,
  wheelhouse/, testspec.yml, the bundles and budgets);
- `firebase`: Firebase Test Lab game-loop scenarios, the `gcloud` line, and a downloaded results
  folder read back into device results.
"""
