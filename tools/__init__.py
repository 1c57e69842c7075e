"""The ``lepton`` command line, the Python ``compile`` API, the demo and graph debug tools."""
