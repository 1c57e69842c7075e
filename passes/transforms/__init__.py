"""Transform passes: rewrite the IR under a stated numerical contract."""
