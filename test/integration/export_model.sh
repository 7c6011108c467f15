#!/usr/bin/env bash
# mf_export_model of a model of every family trained in the database (linear
# regression, binary and 3-class logistic regression, MLP classifier and
# regressor, k-means), as a LOGIN role holding mf_admin (a role holding only
# mf_reader is refused: the artifact holds the training categories), piped as the
# README says (base64 | base64 -d | tar -x): the TensorFlow Serving layout
# <name>/<n>/ with n = version_id, owner root, modes 0755/0644, every member
# dated trained_at, model.mfa whose sha256 is mf.artifacts.sha256,
# serving.json with every member (labels = stage and aliases), the version a
# bare name, a stage and an alias choose, and the same bytes on every export.
. "$(dirname "$0")/jobs_lib.bash"
wait_for_server || fail "server not reachable"
TMP=""
MODELS=(ex_lin ex_log ex_log3 ex_mlp ex_mlpr ex_km)

# Drop the test's models, table and role (also at exit).
cleanup() {
	local m
	for m in "${MODELS[@]}"; do sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '$m'" || true; done
	sql "DROP TABLE IF EXISTS ex_train; DROP ROLE IF EXISTS ex_reader; DROP ROLE IF EXISTS ex_admin" || true
	[ -z "$TMP" ] || rm -rf "$TMP"
}
trap cleanup EXIT
sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
cleanup
TMP="$(mktemp -d)"

sql "CREATE TABLE ex_train AS
     SELECT CASE WHEN i % 17 = 0 THEN NULL ELSE (i % 13) / 6.5 - 1 END::float8 AS x1, (i % 7)::int AS x2,
            (ARRAY['red', 'grün', 'blue', NULL])[1 + i % 4] AS colour,
            round(((i % 13) / 6.5 - 1 + (i % 7) / 7.0)::numeric, 2) AS y_num,
            CASE WHEN (i % 13) / 6.5 - 1 + 0.2 * (i % 4) > 0 THEN 'yes' ELSE 'no' END AS y_bin,
            (1 + (i % 3 + i % 5) % 3)::int AS y_three
       FROM generate_series(1, 300) i"
train() { # name family-config target options
	sql "SELECT mf_create_model('$2'::jsonb || '{\"name\": \"$1\"}')"
	sql "SELECT mf_train('$1', 'ex_train', $3, '{\"features\": [\"x1\", \"x2\", \"colour\"]$4}')"
}
train ex_lin '{"family": "linear_regression"}' "'y_num'" ''
train ex_log '{"family": "logistic_regression"}' "'y_bin'" ''
train ex_log3 '{"family": "logistic_regression"}' "'y_three'" ''
train ex_mlp '{"family": "mlp", "hidden_layers": [6, 5], "activation": "tanh"}' "'y_bin'" ', "epochs": 5'
train ex_mlpr '{"family": "mlp", "task": "regression", "hidden_layers": [7]}' "'y_num'" ', "epochs": 5'
train ex_km '{"family": "kmeans", "k": 3}' NULL ', "test_size": 0'
# Labels: a production stage and aliases; a second trained version of k-means (none in production).
sql "SELECT mf_set_stage('ex_log:1.0.0', 'production'); SELECT mf_set_alias('ex_log:1.0.0', 'champion');
     SELECT mf_set_alias('ex_log:1.0.0', 'blue'); SELECT mf_set_stage('ex_mlp:1.0.0', 'staging');
     SELECT mf_train(mf_create_version('ex_km', '{}', '{\"k\": 4}'), 'ex_train', NULL,
                     '{\"features\": [\"x1\", \"x2\", \"colour\"], \"test_size\": 0}')"
sql "CREATE ROLE ex_reader LOGIN IN ROLE mf_reader; CREATE ROLE ex_admin LOGIN IN ROLE mf_admin"
out="$(PGUSER=ex_reader q "SELECT mf_export_model('ex_log')" 2>&1)" && fail "a reader exported a model"
case "$out" in *'permission denied to export model "ex_log"'*) ;; *) fail "a reader's export: $out" ;; esac
pass "a role holding only mf_reader may not export (42501 naming the model)"

# Export ref $1 as ex_admin into file $2 the README's way.
export_to() { PGUSER=ex_admin q "SELECT encode(mf_export_model('$1'), 'base64')" | base64 -d >"$2"; }

mkdir -p "$TMP/models"
for m in "${MODELS[@]}"; do
	export_to "$m" "$TMP/$m.tar" || fail "export of $m failed"
	vid="$(q "SELECT r.version_id FROM mf._resolve('$m') r")"
	[ "$(tar -tf "$TMP/$m.tar" | tr '\n' ' ')" = "$m/ $m/$vid/ $m/$vid/model.mfa $m/$vid/serving.json " ] ||
		fail "$m: members $(tar -tf "$TMP/$m.tar" | tr '\n' ' ')"
	tar -tvf "$TMP/$m.tar" --numeric-owner | awk '{print $1, $2}' | sort -u | tr '\n' ' ' >"$TMP/modes"
	[ "$(cat "$TMP/modes")" = "-rw-r--r-- 0/0 drwxr-xr-x 0/0 " ] || fail "$m: modes and owners $(cat "$TMP/modes")"
	tar -x -C "$TMP/models" -f "$TMP/$m.tar" || fail "$m: tar -x failed"
	dir="$TMP/models/$m/$vid"
	[ -f "$dir/model.mfa" ] && [ -f "$dir/serving.json" ] || fail "$m: $dir lacks model.mfa or serving.json"
	sha="$(q "SELECT sha256 FROM mf.artifacts WHERE version_id = $vid")"
	[ "$(sha256sum "$dir/model.mfa" | cut -d' ' -f1)" = "$sha" ] || fail "$m: sha256 of model.mfa differs from mf.artifacts.sha256"
	[ "$(stat -c %s "$dir/model.mfa")" = "$(q "SELECT size_bytes FROM mf.artifacts WHERE version_id = $vid")" ] ||
		fail "$m: size of model.mfa"
	expect="$(q "SELECT json_build_object('format', 'mf-serving/1', 'name', m.name, 'version', v.version,
	                    'version_number', v.version_id, 'family', m.family,
	                    'labels', ARRAY(SELECT l FROM (SELECT v.stage AS l, 0 AS o WHERE v.stage <> 'development'
	                                                   UNION ALL SELECT a.alias, 1 FROM mf.aliases a
	                                                    WHERE a.version_id = v.version_id) x ORDER BY o, l),
	                    'artifact', 'model.mfa', 'artifact_sha256', '$sha',
	                    'trained_at', to_char(v.trained_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))
	               FROM mf.model_versions v JOIN mf.models m USING (model_id) WHERE v.version_id = $vid")"
	python3 - "$dir/serving.json" "$expect" <<'EOF' || fail "$m: serving.json differs from the catalog"
import json, sys
got = json.load(open(sys.argv[1]))
want = json.loads(sys.argv[2])
if got != want or list(got) != list(want):
    sys.exit("got %s\nwant %s" % (json.dumps(got), json.dumps(want)))
EOF
	mtime="$(q "SELECT floor(extract(epoch FROM trained_at))::bigint FROM mf.model_versions WHERE version_id = $vid")"
	[ "$(stat -c %Y "$dir/model.mfa")" = "$mtime" ] && [ "$(stat -c %Y "$dir")" = "$mtime" ] ||
		fail "$m: extracted mtime $(stat -c %Y "$dir/model.mfa"), trained_at $mtime"
	export_to "$m" "$TMP/$m.again.tar"
	cmp -s "$TMP/$m.tar" "$TMP/$m.again.tar" || fail "$m: two exports differ"
	pass "$m ($(q "SELECT family FROM mf.models WHERE name = '$m'")): <name>/$vid/ with model.mfa (sha256 = mf.artifacts.sha256) and serving.json; the same bytes twice"
done
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["labels"])' "$TMP/models/ex_log/$(q "SELECT r.version_id FROM mf._resolve('ex_log') r")/serving.json")" = "['production', 'blue', 'champion']" ] ||
	fail "ex_log labels"
pass "labels are the stage, then the aliases in name order"

# Which version: a bare name takes production, else the highest version_id; stages and aliases too.
[ "$(q "SELECT r.version FROM mf._resolve('ex_km') r")" = 1.1.0 ] || fail "the bare k-means ref"
[ -d "$TMP/models/ex_km/$(q "SELECT version_id FROM mf.catalog WHERE ref = 'ex_km:1.1.0'")" ] || fail "ex_km exported another version"
export_to ex_km:1.0.0 "$TMP/km1.tar"
[ "$(tar -tf "$TMP/km1.tar" | sed -n 2p)" = "ex_km/$(q "SELECT version_id FROM mf.catalog WHERE ref = 'ex_km:1.0.0'")/" ] ||
	fail "ex_km:1.0.0 exported $(tar -tf "$TMP/km1.tar" | sed -n 2p)"
export_to ex_log@champion "$TMP/champ.tar"
cmp -s "$TMP/champ.tar" "$TMP/ex_log.tar" || fail "ex_log@champion differs from the production export of the same version"
export_to ex_mlp@staging "$TMP/stg.tar"
cmp -s "$TMP/stg.tar" "$TMP/ex_mlp.tar" || fail "ex_mlp@staging differs"
pass "a bare name exports production, else the highest version_id; name:version, name@stage and name@alias export theirs"
[ "$(find "$TMP/models" -mindepth 2 -maxdepth 2 -type d | wc -l)" = "${#MODELS[@]}" ] || fail "the model base holds other directories"
pass "the exports of ${#MODELS[@]} models extract side by side into one --model-base-path directory"
