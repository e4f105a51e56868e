"""Reports for people: what `summary`, `summary --compare`, `check` and `prices` print.

The data are the core's (`summary`, `compare`, `check`, `prices`); the layout
engine is `formats.table`'s. `tables` draws the terminal tables; `check` has
check's words and its Markdown report for a CI job summary.
"""
