"""The key-heat simulation (issue 17 §1): load, recorder, size maths, checks, report."""
