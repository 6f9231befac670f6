"""Score an llm_sql candidate: the prefix-cache hit rate of its row and field orders.

The candidate returns only orders. The evaluator checks that the row order is a permutation of
the table's rows and every field order a permutation of its columns, then serialises the rows
itself from its own copy of the table and measures the shared prefixes (tables.prefix_hits).
"""

import tables as T
from evolve_eval import CandidateError, run_candidate

TIMEOUT = 40


def _is_perm(xs, n):
    return (
        isinstance(xs, list)
        and len(xs) == n
        and all(isinstance(x, int) and not isinstance(x, bool) for x in xs)
        and sorted(xs) == list(range(n))
    )


def _check(table, answer):
    """Return (row_order, per-row field orders) or a one-line reason (str)."""
    n_rows, n_cols = len(table["rows"]), len(table["columns"])
    if not isinstance(answer, list) or len(answer) != 2:
        return "reorder() must return (row_order, field_orders)"
    row_order, field_orders = answer
    if not _is_perm(row_order, n_rows):
        return f"row_order is not a permutation of range({n_rows}) (every row exactly once)"
    if _is_perm(field_orders, n_cols):
        return row_order, [field_orders] * n_rows
    if not isinstance(field_orders, list) or len(field_orders) != n_rows:
        return f"field_orders must be one permutation of range({n_cols}) or one per row ({n_rows})"
    for k, order in enumerate(field_orders):
        if not _is_perm(order, n_cols):
            return f"field_orders[{k}] is not a permutation of range({n_cols}) (every field exactly once)"
    return row_order, field_orders


def _score(program_path, seed):
    tables = T.make_tables(seed)
    try:
        answers = run_candidate(program_path, "run", args=(tables,), timeout=TIMEOUT)
    except CandidateError as exc:
        return {"error": str(exc)}
    seconds = run_candidate.last_seconds
    if not isinstance(answers, list) or len(answers) != len(tables):
        got = len(answers) if isinstance(answers, list) else type(answers).__name__
        return {"error": f"run() must return one (row_order, field_orders) per table ({len(tables)}), got {got}"}
    rates, metrics = [], {}
    for table, answer in zip(tables, answers):
        checked = _check(table, answer)
        if isinstance(checked, str):
            return {"error": f"table {table['name']}: {checked}"}
        row_order, field_orders = checked
        cols, rows = table["columns"], table["rows"]
        texts = [T.serialise(cols, rows[i], order) for i, order in zip(row_order, field_orders)]
        hits = T.prefix_hits(texts)
        rate = sum(hits) / sum(map(len, texts))
        rates.append((rate, table["name"], cols, field_orders[0]))
        metrics[f"hit_rate_{table['name']}"] = rate
    score = sum(r[0] for r in rates) / len(rates)
    ranked = sorted(rates, key=lambda r: r[0])
    detail = "; ".join(
        f"{name}: {rate:.4f} (first row's fields start {', '.join(cols[j] for j in order[:3])})"
        for rate, name, cols, order in ranked
    )
    return {
        "score": score,
        "hit_rate": score,
        "worst_hit_rate": ranked[0][0],
        **metrics,
        "seconds": seconds,
        "feedback": (
            f"Mean prefix-cache hit rate {score:.4f} over {len(rates)} tables; candidate took "
            f"{seconds:.2f} s. Per table, worst first: {detail}."
        ),
    }


def evaluate(program_path):
    return _score(program_path, T.TRAIN_SEED)


def evaluate_heldout(program_path):
    return _score(program_path, T.HELDOUT_SEED)
