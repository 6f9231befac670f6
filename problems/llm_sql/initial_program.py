"""Reorder a table's rows, and the fields within each row, to maximise LLM prefix-cache reuse.

Each row is sent to an LLM as its fields serialised "column: value\n" in the chosen field order,
rows in the chosen row order. A prefix cache serves the longest prefix a row's text shares with
any earlier row's text; the hit rate is the cached characters over all characters. Rows may be
put in any order, and each row's fields in any order of its own.
"""


# EVOLVE-BLOCK-START
def reorder(columns, rows):
    """Return (row_order, field_orders).

    row_order: a permutation of range(len(rows)): the order in which rows are sent.
    field_orders: for each row in the NEW order, a permutation of range(len(columns)) (or a single
    permutation used for every row).
    Baseline: one global field order, columns by increasing number of distinct values; then sort
    the rows lexicographically by their values in that order.
    """
    ncols = len(columns)
    distinct = [len({row[j] for row in rows}) for j in range(ncols)]
    field_order = sorted(range(ncols), key=lambda j: distinct[j])
    row_order = sorted(range(len(rows)), key=lambda i: [rows[i][j] for j in field_order])
    return row_order, field_order


# EVOLVE-BLOCK-END


def run(tables):
    """Entry point called by the evaluator: (row_order, field_orders) per table."""
    return [reorder(t["columns"], t["rows"]) for t in tables]
