#!/usr/bin/env bash
# `make demo` never destroys user data. In a throwaway cluster of this test's
# own (.mf/test-demo, port $MF_PORT + 1, destroyed at the end; never the demo
# cluster), scripts/demo.sh without its package/build step:
#   1. on a fresh cluster runs the quickstart with no launcher warning;
#   2. run again after the user made a model, a view calling
#      mf_predict_label on it, and a model of another name, keeps all three
#      (the quickstart's own 7 models are replaced);
#   3. stops, touching nothing, when a model of the user's has a quickstart
#      model name;
#   4. stops when mf_ext differs from the installed script of its version,
#      unless MF_KEEP_CATALOG=1;
#   5. `--reset` (make reset) lists what it drops and drops only when
#      confirmed;
#   6. updates mf_ext installed at 0.1.0 in place, or (while this checkout
#      has no upgrade script) stops and keeps the 0.1.0 catalog and models.
set -euo pipefail
MF_CLUSTER_DIR="$(cd "$(dirname "$0")/../.." && pwd)/.mf/test-demo"
MF_PORT="${MF_DEMO_TEST_PORT:-$((${MF_PORT:-5500} + 1))}"
export MF_CLUSTER_DIR MF_PORT
# shellcheck source=test/integration/jobs_lib.bash
. "$(dirname "$0")/jobs_lib.bash"
trap '"$CLUSTER_SH" destroy >/dev/null 2>&1 || true' EXIT
"$CLUSTER_SH" destroy

# Run the demo (no packages, build or install); output in $OUT, status in $RC.
demo() {
	RC=0
	OUT="$(MF_DEMO_SETUP=0 "$MF_ROOT/scripts/demo.sh" "$@" 2>&1 </dev/null)" || RC=$?
}

# Fail with the end of the demo's output.
demo_fail() {
	printf '%s\n' "$OUT" | tail -n 30 >&2
	fail "$*"
}

# The user's objects are all there: model, its version, the view, the other model.
user_objects_intact() {
	[ "$(q "SELECT count(*) FROM mf.catalog WHERE ref IN ('my_model:1.0.0', 'my_other:1.0.0')")" = 2 ] ||
		fail "$1: a model of the user's is gone: $(q "SELECT string_agg(ref, ', ') FROM mf.catalog")"
	[ "$(q "SELECT count(*) FILTER (WHERE label IS NOT NULL) FROM my_view")" = 300 ] ||
		fail "$1: the user's view my_view is gone or broken"
}

# 1. First run on a fresh cluster (database mf is created just before).
demo
[ "$RC" = 0 ] || demo_fail "the first demo failed"
if grep -q 'launcher is not running' <<<"$OUT"; then demo_fail "the first run warned that the launcher is not running"; fi
grep -q 'creating extension mf_ext' <<<"$OUT" || demo_fail "the first run did not create the extension"
[ "$(q "SELECT count(*) FROM mf.models WHERE 'quickstart' = ANY (tags)")" = 7 ] || fail "expected 7 quickstart models"
grep '^==>' <<<"$OUT" || true
pass "first run: quickstart ran, no launcher warning"

# 2. The user's model, a dependent view and another model; run again.
sql "CREATE TABLE my_data AS SELECT (i % 13) / 13.0 AS x1, (i % 7) / 7.0 AS x2,
            ((i % 13) / 13.0 > (i % 7) / 7.0)::int::text AS y FROM generate_series(1, 300) i"
sql "SELECT mf_create_model('{\"name\": \"my_model\", \"family\": \"logistic_regression\"}')"
sql "SELECT mf_train('my_model', 'my_data', 'y')"
sql "SELECT mf_create_model('{\"name\": \"my_other\", \"family\": \"mlp\", \"tags\": [\"mine\"]}')"
sql "CREATE VIEW my_view AS SELECT x1, x2, mf_predict_label('my_model', d) AS label FROM my_data d"
demo
[ "$RC" = 0 ] || demo_fail "the second demo failed"
grep -q 'keeping it and your models' <<<"$OUT" || demo_fail "the second run did not keep the extension"
user_objects_intact "second run"
[ "$(q "SELECT count(*) FROM mf.models")" = 9 ] || fail "expected 7 quickstart models and 2 of the user's"
pass "second run: the user's models and view are intact, the quickstart's replaced"

# 3. A model of the user's named like one of the quickstart's stops the demo.
sql "SELECT mf_drop_model('house_prices')"
sql "SELECT mf_create_model('{\"name\": \"house_prices\", \"family\": \"linear_regression\"}')"
demo
[ "$RC" != 0 ] || demo_fail "the demo ran over a model of the user's named house_prices"
grep -q "models of yours named like the quickstart's (house_prices" <<<"$OUT" || demo_fail "no clear message about house_prices"
[ "$(q "SELECT count(*) FROM mf.catalog WHERE model = 'house_prices'")" = 1 ] || fail "the user's house_prices changed"
[ "$(q "SELECT count(*) FROM mf.models WHERE 'quickstart' = ANY (tags)")" = 6 ] || fail "the quickstart ran partly"
sql "SELECT mf_register_model('house_prices', name => 'my_house')"
pass "a model of the user's with a quickstart name stops the demo; nothing changed"

# 4. A catalog that differs from the installed script of its version.
sql "CREATE FUNCTION mf.zz_added() RETURNS int LANGUAGE sql AS 'SELECT 1';
     ALTER EXTENSION mf_ext ADD FUNCTION mf.zz_added()"
demo
[ "$RC" != 0 ] || demo_fail "the demo went on with a changed catalog"
grep -q 'installed from another script of the same version' <<<"$OUT" || demo_fail "no message about the changed script"
grep -q 'zz_added' <<<"$OUT" || demo_fail "the differing object is not named"
user_objects_intact "changed catalog"
RC=0
OUT="$(MF_KEEP_CATALOG=1 MF_DEMO_SETUP=0 "$MF_ROOT/scripts/demo.sh" 2>&1 </dev/null)" || RC=$?
[ "$RC" = 0 ] || demo_fail "MF_KEEP_CATALOG=1 did not go on"
user_objects_intact "MF_KEEP_CATALOG=1"
sql "ALTER EXTENSION mf_ext DROP FUNCTION mf.zz_added(); DROP FUNCTION mf.zz_added()"
pass "a changed catalog stops the demo (MF_KEEP_CATALOG=1 goes on); nothing dropped"

# 5. make reset: lists, refuses without confirmation, drops with it.
demo --reset
[ "$RC" != 0 ] || demo_fail "reset dropped without confirmation"
for want in my_model 'view my_view'; do grep -q "$want" <<<"$OUT" || demo_fail "reset did not list $want"; done
user_objects_intact "reset without confirmation"
RC=0
OUT="$(MF_RESET=yes MF_DEMO_SETUP=0 "$MF_ROOT/scripts/demo.sh" --reset 2>&1 </dev/null)" || RC=$?
[ "$RC" = 0 ] || demo_fail "MF_RESET=yes make reset failed"
[ "$(q "SELECT count(*) FROM mf.models WHERE name LIKE 'my\_%'")" = 0 ] || fail "reset kept the user's models"
[ "$(q "SELECT count(*) FROM pg_views WHERE viewname = 'my_view'")" = 0 ] || fail "reset kept my_view"
pass "reset lists what it drops, refuses without MF_RESET=yes, drops with it"

# 6. mf_ext 0.1.0 (an older cluster) with a model: update in place or stop.
sql "DROP EXTENSION mf_ext CASCADE; CREATE EXTENSION mf_ext VERSION '0.1.0'"
sql "SELECT mf_create_model('{\"name\": \"old_model\", \"family\": \"mlp\"}')"
want="$(q "SELECT default_version FROM pg_available_extensions WHERE name = 'mf_ext'")"
demo
[ "$(q "SELECT count(*) FROM mf.models WHERE name = 'old_model'")" = 1 ] || demo_fail "the 0.1.0 model is gone"
have="$(q "SELECT extversion FROM pg_extension WHERE extname = 'mf_ext'")"
if [ "$RC" = 0 ]; then
	[ "$have" = "$want" ] || fail "the demo succeeded but mf_ext is $have, not $want"
	pass "mf_ext 0.1.0 updated in place to $want; its model kept"
else
	# Without an upgrade script of this checkout the update must stop cleanly
	# (an installed one may come from another checkout sharing the server).
	[ ! -f "$MF_ROOT/sql/upgrade/0.1.0--$want.sql" ] || demo_fail "the update 0.1.0 -> $want failed: $OUT"
	grep -q "could not be updated to $want" <<<"$OUT" || demo_fail "no clear message about the failed update"
	[ "$have" = 0.1.0 ] || fail "the 0.1.0 catalog changed"
	pass "no upgrade script 0.1.0 -> $want here: the demo stops and keeps the 0.1.0 catalog and its model"
fi
