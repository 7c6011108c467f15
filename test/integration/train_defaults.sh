#!/usr/bin/env bash
# Family defaults have one source: the normalised config.  For every family
# (linear regression, binary and 3-class logistic regression with each
# solver, MLP classifier and regressor with each optimiser and schedule,
# k-means with each init) one model is trained from a short config plus
# hyperparameter options, and a twin is created from the config the first
# one stored (every default and every option spelled out) and trained with
# the run options only: the two artifacts must be equal byte for byte, and
# so must the metrics (but the time taken).  Changing how training reads a
# config then shows up here as a difference.
# With MF_TRAIN_DIGESTS=<file>, the sha256 of every artifact and of its
# metrics is written there, so two builds can be compared (before/after a
# change of how options are read: the files must be equal).
. "$(dirname "$0")/jobs_lib.bash"
wait_for_server || fail "server not reachable"

sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
sql "DROP TABLE IF EXISTS td_data"
sql "CREATE TABLE td_data AS
     SELECT i AS id,
            CASE WHEN i % 17 = 0 THEN NULL ELSE (i % 13) / 6.5 - 1 END::float8 AS x1,
            (i % 7)::int AS x2,
            CASE WHEN i % 11 = 0 THEN NULL ELSE i % 3 = 0 END AS flag,
            (ARRAY['red', 'green', 'blue', NULL])[1 + i % 4] AS colour,
            round(((i % 13) / 6.5 - 1 + (i % 7) / 7.0 + 0.1 * sin(i))::numeric, 3) AS y_num,
            CASE WHEN (i % 13) / 6.5 - 1 + 0.2 * (i % 4) + 0.3 * sin(i) > 0 THEN 'yes' ELSE 'no' END AS y_bin,
            (1 + (i % 3 + i % 5) % 3)::int AS y_three
       FROM generate_series(1, 400) i"
SRC='SELECT x1, x2, flag, colour, y_num, y_bin, y_three FROM td_data'
RUN='"features": ["x1", "x2", "flag", "colour"]'
[ -n "${MF_TRAIN_DIGESTS:-}" ] && : >"$MF_TRAIN_DIGESTS"

# The sha256 of a version's artifact and of its metrics (without the time taken).
digest() {
	q "SELECT encode(sha256(a.bytes), 'hex') || ' ' || encode(sha256(convert_to((v.metrics - 'training_seconds')::text, 'UTF8')), 'hex')
	     FROM mf.catalog c JOIN mf.model_versions v USING (version_id) JOIN mf.artifacts a USING (version_id)
	    WHERE c.ref = '$1:1.0.0'"
}

n=0
# case: name, config, target, hyperparameter options, run options
check() {
	local name="$1" config="$2" target="$3" hyper="$4" run="$5" a b
	sql "SELECT mf_drop_model(name) FROM mf.models WHERE name IN ('td_$name', 'td_${name}_twin')"
	sql "SELECT mf_create_model('$config'::jsonb || '{\"name\": \"td_$name\"}')"
	sql "SELECT mf_train('td_$name', '$SRC', $target, '{$RUN$hyper$run}')"
	a="$(digest "td_$name")"
	[ -n "$a" ] || fail "$name: no artifact"
	sql "SELECT mf_create_model(v.config || '{\"name\": \"td_${name}_twin\"}')
	       FROM mf.catalog c JOIN mf.model_versions v USING (version_id) WHERE c.ref = 'td_$name:1.0.0'"
	sql "SELECT mf_train('td_${name}_twin', '$SRC', $target, '{$RUN$run}')"
	b="$(digest "td_${name}_twin")"
	[ "$a" = "$b" ] || fail "$name: the config with every default spelled out trains another model ($a vs $b)"
	[ -n "${MF_TRAIN_DIGESTS:-}" ] && echo "$name $a" >>"$MF_TRAIN_DIGESTS"
	sql "SELECT mf_drop_model('td_$name'), mf_drop_model('td_${name}_twin')"
	pass "$name: implicit and spelled-out defaults train the same artifact and metrics"
	n=$((n + 1))
}

check lin '{"family": "linear_regression"}' "'y_num'" '' ''
check lin_ridge_qr '{"family": "linear_regression"}' "'y_num'" ', "alpha": 0.5, "solver": "qr", "fit_intercept": false' \
	', "standardize": true, "test_size": 0.3, "seed": 5'
check lin_chol '{"family": "linear_regression", "solver": "cholesky"}' "'y_num'" ', "alpha": 2' ', "impute": "zero"'
check log '{"family": "logistic_regression"}' "'y_bin'" '' ''
check log_newton '{"family": "logistic_regression", "solver": "newton"}' "'y_bin'" ', "C": 0.3, "tol": 0.001' \
	', "stratify": false, "max_categories": 2'
check log_lbfgs '{"family": "logistic_regression"}' "'y_bin'" ', "solver": "lbfgs", "max_iter": 7, "fit_intercept": false' ''
check log3 '{"family": "logistic_regression"}' "'y_three'" ', "C": 4' ', "seed": 11'
check mlp '{"family": "mlp"}' "'y_bin'" ', "epochs": 4' ''
check mlp_tanh_sgd '{"family": "mlp", "hidden_layers": [6, 5], "activation": "tanh"}' "'y_three'" \
	', "epochs": 6, "optimizer": "sgd", "momentum": 0.5, "nesterov": true, "learning_rate": 0.05, "batch_size": 17' \
	', "seed": 9'
check mlp_adamw_step '{"family": "mlp", "hidden_layers": [8], "activation": "gelu", "dropout": 0.2}' "'y_bin'" \
	', "epochs": 7, "optimizer": "adamw", "weight_decay": 0.01, "lr_schedule": "step", "lr_step_size": 2, "lr_gamma": 0.5, "early_stopping": false' ''
check mlp_cosine '{"family": "mlp", "hidden_layers": [5, 4, 3], "activation": "silu"}' "'y_bin'" \
	', "epochs": 9, "lr_schedule": "cosine", "validation_fraction": 0.25, "patience": 2, "weight_decay": 0.001' \
	', "standardize": false'
check mlpr '{"family": "mlp", "task": "regression", "hidden_layers": [7]}' "'y_num'" ', "epochs": 5, "activation": "sigmoid"' ''
check km '{"family": "kmeans", "k": 3}' NULL '' ', "test_size": 0'
check km_random '{"family": "kmeans"}' NULL ', "k": 4, "init": "random", "n_init": 3, "max_iter": 20, "tol": 0.001' \
	', "test_size": 0.25, "seed": 3'

sql "DROP TABLE td_data"
pass "$n cases"
