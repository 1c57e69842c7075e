"""Lepton's built-in passes: analyses in ``analysis/``, transforms in ``transforms/``.

Passes are found by name through ``lepton_ir.registry``; importing this package registers nothing.
"""
