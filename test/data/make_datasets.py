#!/usr/bin/python3
"""Regenerate test/data/iris.csv and test/data/breast_cancer.csv.

Run from anywhere with /usr/bin/python3 (Debian's python3-sklearn); the CSVs
are committed, so this is only needed to rebuild them. Input: the raw files
shipped in scikit-learn's sklearn/datasets/data/ directory, whose first line
is "n_samples,n_features,class names..." and whose last column is the class
index. Output: plain CSV with a header row, the class as its text label, and
a `split` column ('train' or 'test') from one stratified 80/20 split,
train_test_split(test_size=0.2, random_state=0, stratify=y).

Feature values are copied as the exact text of the source file, so no
floating-point reformatting happens.
"""
import csv
import os
import sys

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data")

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def snake(name):
    """'mean concave points' -> 'mean_concave_points'."""
    return "_".join(name.lower().split())


def read_raw(path):
    """Return (class names, feature rows as strings, class indices)."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        head = next(reader)
        n_samples, n_features = int(head[0]), int(head[1])
        classes = head[2:]
        rows, y = [], []
        for rec in reader:
            if not rec:
                continue
            if len(rec) != n_features + 1:
                sys.exit(f"{path}: expected {n_features + 1} fields, got {len(rec)}")
            rows.append(rec[:n_features])
            y.append(int(rec[n_features]))
    if len(rows) != n_samples:
        sys.exit(f"{path}: header says {n_samples} rows, found {len(rows)}")
    return classes, rows, np.array(y)


def write(name, header, label_col, classes, rows, y):
    """Split, then write test/data/<name>.csv in the source row order."""
    idx = np.arange(len(rows))
    _, test_idx = train_test_split(idx, test_size=0.2, random_state=0, stratify=y)
    is_test = np.zeros(len(rows), dtype=bool)
    is_test[test_idx] = True
    out = os.path.join(HERE, name + ".csv")
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header + [label_col, "split"])
        for i, rec in enumerate(rows):
            w.writerow(rec + [classes[y[i]], "test" if is_test[i] else "train"])
    print(f"{out}: {len(rows)} rows, {len(rows) - is_test.sum()} train, {is_test.sum()} test")


def main():
    classes, rows, y = read_raw(os.path.join(SRC, "iris.csv"))
    assert classes == ["setosa", "versicolor", "virginica"], classes
    write("iris", IRIS_FEATURES, "species", classes, rows, y)

    classes, rows, y = read_raw(os.path.join(SRC, "breast_cancer.csv"))
    bc = load_breast_cancer()
    assert classes == list(bc.target_names) == ["malignant", "benign"], classes
    assert np.array_equal(y, bc.target)
    assert np.allclose(np.array(rows, dtype=float), bc.data)
    write("breast_cancer", [snake(n) for n in bc.feature_names], "diagnosis", classes, rows, y)
    print(f"scikit-learn {sklearn.__version__}, source {SRC}")


if __name__ == "__main__":
    main()
