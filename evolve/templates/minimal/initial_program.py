"""Curve fitting: predict an unknown smooth function at new points from 30 noisy samples.

This is the program that evolves. Only the code between the EVOLVE-BLOCK-START and
EVOLVE-BLOCK-END lines may change: the model proposes edits there, and an edit that touches
anything outside the block is rejected before it is ever run. Keep the interface that the
evaluator calls (predict_all below) outside the block, so that evolution cannot rename or break it.

The evaluator runs this file in a separate process through `run_candidate` and only receives
what predict_all returns (as JSON: lists, numbers, strings, dicts; numpy arrays become lists).
It computes the score itself from that return value.
"""

import numpy as np

# EVOLVE-BLOCK-START
DEGREE = 2  # degree of the polynomial
RIDGE = 0.001  # L2 penalty on the coefficients (keeps high degrees from blowing up)


def fit_and_predict(train_x, train_y, query_x):
    """Predict y at query_x from the samples (train_x, train_y); all three are 1-D numpy arrays.

    The baseline: a least-squares polynomial of degree DEGREE with a small ridge penalty. The data
    come from a curved function, so there is a lot of room: other degrees or bases, splines,
    local regression, model selection by cross-validation on the training samples, ...
    """
    features = np.vander(train_x, DEGREE + 1)
    gram = features.T @ features + RIDGE * np.eye(DEGREE + 1)
    coeffs = np.linalg.solve(gram, features.T @ train_y)
    return np.vander(query_x, DEGREE + 1) @ coeffs


# EVOLVE-BLOCK-END


def predict_all(tasks):
    """The entry point the evaluator calls: one list of predictions per task.

    tasks: a list of {"train_x": [...], "train_y": [...], "query_x": [...]}.
    """
    out = []
    for task in tasks:
        x = np.asarray(task["train_x"], dtype=float)
        y = np.asarray(task["train_y"], dtype=float)
        q = np.asarray(task["query_x"], dtype=float)
        out.append(np.asarray(fit_and_predict(x, y, q), dtype=float).tolist())
    return out


if __name__ == "__main__":
    # A quick manual try: python initial_program.py
    xs = np.linspace(-2, 2, 30)
    print(predict_all([{"train_x": xs.tolist(), "train_y": np.sin(3 * xs).tolist(), "query_x": [0.0, 1.0]}]))
