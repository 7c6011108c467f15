#!/usr/bin/env bash
# A job's source runs with the privileges of the role that queued it: a role
# holding mf_trainer queues a job, the training's audit event is written as that role,
# and a source the role cannot read is refused at queue time.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
ROLE=mf_jobs_tester
trap 'sql "DROP TABLE IF EXISTS jobs_secret"; sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = '"'jrole'"'"; sql "DROP OWNED BY '"$ROLE"'; DROP ROLE IF EXISTS '"$ROLE"'" || true' EXIT
sql "DROP TABLE IF EXISTS jobs_secret"
sql "SELECT mf_drop_model(name) FROM mf.models WHERE name = 'jrole'"
sql "DO \$\$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE') THEN
       EXECUTE 'DROP OWNED BY $ROLE'; EXECUTE 'DROP ROLE $ROLE'; END IF; END \$\$"
sql "CREATE ROLE $ROLE LOGIN;
     GRANT mf_trainer TO $ROLE;
     GRANT SELECT ON jobs_data TO $ROLE;
     CREATE TABLE jobs_secret AS SELECT * FROM jobs_data LIMIT 100"
as_role() { PGUSER="$ROLE" q "$1"; }
[ "$(as_role "SELECT current_user")" = "$ROLE" ] || fail "cannot connect as $ROLE"
as_role "SELECT mf_create_model('{\"name\": \"jrole\", \"family\": \"logistic_regression\"}')" >/dev/null
out="$(PGUSER="$ROLE" "$PG_BIN/psql" -X -q -c "SELECT mf_train_async('jrole', 'jobs_secret', 'y')" 2>&1 || true)"
echo "$out" | grep -q 'ERROR:  permission denied for table jobs_secret' || fail "unreadable source accepted: $out"
pass "a source the role cannot read is refused at queue time"
id="$(as_role "SELECT mf_train_async('jrole', 'SELECT x1, x2, y FROM jobs_data', 'y')")"
[ "$(as_role "SELECT (mf_wait($id, '60 s')).status" 2>/dev/null)" = succeeded ] || fail "job $id: $(job "$id" "status || ' ' || coalesce(error, '')")"
[ "$(job "$id" queued_by)" = "$ROLE" ] || fail "queued_by = $(job "$id" queued_by)"
[ "$(q "SELECT actor FROM mf.events WHERE model_name = 'jrole' AND action = 'train' ORDER BY event_id DESC LIMIT 1")" = "$ROLE" ] ||
	fail "training ran as $(q "SELECT actor FROM mf.events WHERE model_name = 'jrole' AND action = 'train' ORDER BY event_id DESC LIMIT 1")"
pass "job $id queued by $ROLE trained as $ROLE"
