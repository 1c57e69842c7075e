"""Analysis passes: read the IR, return typed results, never mutate."""
