#!/usr/bin/python3
"""Reference test accuracies of scikit-learn on the committed splits.

Reads test/data/iris.csv and test/data/breast_cancer.csv (the `split` column
decides train/test), fits on train and scores on test:

  logreg  StandardScaler (fitted on train) + LogisticRegression(lbfgs, C=1.0,
          max_iter=1000)
  mlp     StandardScaler (fitted on train) + MLPClassifier(hidden (64, 64),
          relu, adam, random_state=0, max_iter=500)

The figures are recorded in test/data/SKLEARN_REFERENCE.md and serve as
quality thresholds (mf_ext accuracy >= sklearn - 1 point). Not part of
`make test`: run by hand with /usr/bin/python3 (Debian python3-sklearn).
"""
import csv
import os
import warnings

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
DATASETS = [("iris", "species"), ("breast_cancer", "diagnosis")]


def load(name, label):
    """Return X_train, y_train, X_test, y_test from test/data/<name>.csv."""
    with open(os.path.join(HERE, name + ".csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    feats = [c for c in rows[0] if c not in (label, "split")]
    parts = {}
    for part in ("train", "test"):
        sel = [r for r in rows if r["split"] == part]
        X = np.array([[float(r[c]) for c in feats] for r in sel])
        y = np.array([r[label] for r in sel])
        parts[part] = (X, y)
    return parts["train"] + parts["test"]


def models():
    """The two reference models, each as a pipeline with its scaler."""
    return {
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(
            solver="lbfgs", C=1.0, max_iter=1000)),
        "mlp": make_pipeline(StandardScaler(), MLPClassifier(
            hidden_layer_sizes=(64, 64), activation="relu", solver="adam",
            random_state=0, max_iter=500)),
    }


def main():
    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}")
    for name, label in DATASETS:
        X_tr, y_tr, X_te, y_te = load(name, label)
        for kind, model in models().items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                model.fit(X_tr, y_tr)
            note = " (did not converge)" if any(
                issubclass(w.category, ConvergenceWarning) for w in caught) else ""
            acc = model.score(X_te, y_te)
            n_ok = int(round(acc * len(y_te)))
            print(f"{name:14s} {kind:7s} test accuracy {acc:.4f} "
                  f"({n_ok}/{len(y_te)}; train {len(y_tr)}){note}")


if __name__ == "__main__":
    main()
