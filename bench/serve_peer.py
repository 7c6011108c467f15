"""The peer of bench/serve.sh: the Flask + scikit-learn microservice a team
would write around a logistic model, run by gunicorn (one sync worker per
core).  It serves the same model as mf-serve: the coefficients, intercepts,
standardization means/stds and labels exported from mf_ext's artifact
(mf._model_weights and the version's feature schema, written by
bench/serve.py into $MF_PEER_MODEL), set into a scikit-learn Pipeline
(StandardScaler -> LogisticRegression) instead of being trained again, so
both sides compute the same function.

POST /v1/models/<name>:predict with TensorFlow Serving's row form
{"instances": [[x1, ..., xp], ...]} answers, like mf-serve,
{"predictions": [{"predict": <class index>, "label": "...", "probabilities": [...]}, ...]}.
"""
import json
import os

import numpy as np
from flask import Flask, jsonify, request
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def load_model(path):
    """A fitted Pipeline from the exported weights (nothing is trained)."""
    with open(path) as f:
        m = json.load(f)
    labels = m["labels"]
    p = len(m["features"])
    k = len(labels)
    coef = np.asarray(m["coef"], dtype=np.float64)
    intercept = np.asarray(m["intercept"], dtype=np.float64)
    clf = LogisticRegression()
    clf.classes_ = np.arange(k)
    clf.coef_ = coef.reshape(1 if k == 2 else k, p)
    clf.intercept_ = intercept.reshape(-1)
    scaler = StandardScaler()
    scaler.mean_ = np.asarray(m["means"] if m.get("standardize") else [0.0] * p, dtype=np.float64)
    scaler.scale_ = np.asarray(m["stds"] if m.get("standardize") else [1.0] * p, dtype=np.float64)
    scaler.var_ = scaler.scale_ ** 2
    scaler.n_features_in_ = p
    clf.n_features_in_ = p
    return Pipeline([("scale", scaler), ("logit", clf)]), labels


app = Flask(__name__)
MODEL, LABELS = load_model(os.environ["MF_PEER_MODEL"])


@app.post("/v1/models/<name>:predict")
def predict(name):
    """Row-form predictions with label and probabilities."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
        return jsonify(error="the body needs \"instances\": a list of rows"), 400
    try:
        x = np.asarray(body["instances"], dtype=np.float64)
        proba = MODEL.predict_proba(x)
    except ValueError as e:
        return jsonify(error=str(e)), 400
    idx = proba.argmax(axis=1)
    return jsonify(predictions=[{"predict": int(i), "label": LABELS[i], "probabilities": pr.tolist()}
                                for i, pr in zip(idx, proba)])


@app.get("/health")
def health():
    return jsonify(status="ok")
