#!/usr/bin/env bash
# Deployments from real LOGIN roles (never SET ROLE): dr_bob (mf_trainer) owns
# a model and deploys it with a bearer token; dr_carol (mf_trainer) may neither
# deploy nor undeploy it (42501 naming the owner); dr_dave (mf_reader) reads
# mf.deployments but not mf.deployment_secrets; dr_mallory reads neither.
# The token is in no row of mf.events or mf.deployments and nowhere in the
# server log, after a deploy and after refused ones (a refusal of the
# privilege check, of the option check, and one called through EXECUTE in a
# PL/pgSQL function), while the log does record failing statements of other
# functions.
. "$(dirname "$0")/jobs_lib.bash"
setup_jobs_db
ROLES="dr_bob dr_carol dr_dave dr_mallory"
TOKEN="drTok-$(date +%s%N | sha256sum | cut -c1-32)"
LOG="$(dirname "$(q "SHOW data_directory")")/log/postgresql.log"
[ -r "$LOG" ] || fail "cannot read the server log $LOG"
LOG_START="$(wc -c <"$LOG")"

# Drop the test roles and what they own (also at exit).
cleanup() {
	sql "SELECT mf_drop_model(name) FROM mf.models WHERE name IN ('dr_model')" || true
	drop_roles $ROLES
}
trap cleanup EXIT
cleanup
# Every refusal below is checked not to show the token (jobs_lib.bash, refused).
REFUSED_FORBID="$TOKEN"

sql "CREATE ROLE dr_bob LOGIN; CREATE ROLE dr_carol LOGIN; CREATE ROLE dr_dave LOGIN; CREATE ROLE dr_mallory LOGIN;
     GRANT mf_trainer TO dr_bob, dr_carol; GRANT mf_reader TO dr_dave;
     CREATE SCHEMA dr_bob AUTHORIZATION dr_bob"
as dr_bob "CREATE TABLE dr_bob.data AS SELECT i::float8 AS x, (i % 3 = 0)::int::text AS y FROM generate_series(1, 300) i;
           SELECT mf_create_model('{\"name\": \"dr_model\", \"family\": \"logistic_regression\"}');
           SELECT mf_train('dr_model', 'dr_bob.data', 'y')" >/dev/null

# The owner deploys with a token; nobody else may deploy or undeploy.
id="$(PGOPTIONS='-c client_min_messages=warning' as dr_bob "SELECT mf_deploy('dr_model', 'http', '{\"auth\": {\"bearer_token\": \"$TOKEN\"}}')")"
[ "$(q "SELECT status || ' ' || created_by FROM mf.deployments WHERE deployment_id = $id")" = "active dr_bob" ] ||
	fail "deployment $id: $(q "SELECT status || ' ' || created_by FROM mf.deployments WHERE deployment_id = $id")"
[ "$(q "SELECT actor FROM mf.events WHERE action = 'deploy' AND (after ->> 'deployment_id')::bigint = $id")" = dr_bob ] ||
	fail "the deploy event does not name dr_bob"
pass "the owner deploys with a bearer token; the row and the event name dr_bob"
refused dr_carol "SELECT mf_deploy('dr_model', 'http', '{\"name\": \"dr_carols\", \"auth\": {\"bearer_token\": \"$TOKEN\"}}')" 42501 \
	"a trainer cannot deploy another's model" 'Model "dr_model" belongs to role "dr_bob"'
refused dr_carol "SELECT mf_undeploy($id)" 42501 "a trainer cannot undeploy another's deployment" 'belongs to role "dr_bob"'
refused dr_dave "SELECT mf_deploy('dr_model', 'http', '{\"name\": \"dr_daves\"}')" 42501 "a reader cannot deploy"
refused dr_mallory "SELECT mf_undeploy($id)" 42501 "a role without grants cannot undeploy"

# Who reads what.
[ "$(as dr_dave "SELECT name || ' ' || status FROM mf.deployments WHERE deployment_id = $id")" = "dr_model active" ] ||
	fail "a reader cannot read mf.deployments"
pass "a reader reads mf.deployments"
refused dr_dave "SELECT * FROM mf.deployment_secrets" 42501 "a reader cannot read mf.deployment_secrets"
refused dr_bob "SELECT bearer_hash FROM mf.deployment_secrets" 42501 "not even the deploying owner reads mf.deployment_secrets"
refused dr_bob "UPDATE mf.deployments SET status = 'undeployed' WHERE deployment_id = $id" 42501 "a trainer cannot write mf.deployments"
refused dr_mallory "SELECT * FROM mf.deployments" 42501 "a role without grants cannot read mf.deployments"

# Refusals that carry the token: options, and a caller's EXECUTE (whose context would quote it).
refused dr_bob "SELECT mf_deploy('dr_model', 'http', '{\"name\": \"dr_more\", \"max_batch\": 0, \"auth\": {\"bearer_token\": \"$TOKEN\"}}')" \
	22023 "invalid options with a token are refused" 'options.max_batch'
as dr_bob "CREATE FUNCTION dr_bob.deploy_exec(ref text) RETURNS bigint LANGUAGE plpgsql AS
           \$\$ DECLARE r bigint; BEGIN
                EXECUTE format('SELECT mf_deploy(%L, %L, %L)', ref, 'http',
                               '{\"name\": \"dr_exec\", \"auth\": {\"bearer_token\": \"$TOKEN\"}}') INTO r;
                RETURN r; END \$\$;
           GRANT USAGE ON SCHEMA dr_bob TO dr_carol" >/dev/null
refused dr_carol "SELECT dr_bob.deploy_exec('dr_model')" 42501 "a refusal inside a caller's EXECUTE does not quote the token" \
	'permission denied to deploy model "dr_model"'
# A control: a failing statement of another function is logged with its text.
MARK="dr_marker_$(date +%s%N)"
refused dr_bob "SELECT mf_create_model('{\"name\": \"$MARK\", \"family\": \"no_such_family\"}')" 22023 "a control failure"

# Nothing holds the token.
[ "$(q "SELECT count(*) FROM mf.events e WHERE e::text LIKE '%$TOKEN%'")" = 0 ] || fail "mf.events holds the token"
[ "$(q "SELECT count(*) FROM mf.deployments d WHERE d::text LIKE '%$TOKEN%'")" = 0 ] || fail "mf.deployments holds the token"
[ "$(q "SELECT count(*) FROM mf.deployment_secrets s WHERE s::text LIKE '%$TOKEN%'")" = 0 ] || fail "mf.deployment_secrets holds the token"
pass "no row of mf.events, mf.deployments or mf.deployment_secrets holds the token"
sleep 0.5
tail -c +"$((LOG_START + 1))" "$LOG" >"${TMPDIR:-/tmp}/dr_log.$$"
grep -q "STATEMENT:.*$MARK" "${TMPDIR:-/tmp}/dr_log.$$" || fail "the control: the server log does not record failing statements here"
grep -q "permission denied to deploy model \"dr_model\"" "${TMPDIR:-/tmp}/dr_log.$$" || fail "the refusals are not logged at all"
if grep -qF "$TOKEN" "${TMPDIR:-/tmp}/dr_log.$$"; then
	fail "the server log holds the token: $(grep -F "$TOKEN" "${TMPDIR:-/tmp}/dr_log.$$" | head -n 3)"
fi
rm -f "${TMPDIR:-/tmp}/dr_log.$$"
pass "the server log records the refusals (and a control statement) but never the token"

# The owner undeploys: the secret goes, the row and its events stay.
[ "$(as dr_bob "SELECT status FROM mf_undeploy($id)")" = undeployed ] || fail "dr_bob cannot undeploy"
[ "$(q "SELECT count(*) FROM mf.deployment_secrets WHERE deployment_id = $id")" = 0 ] || fail "the hash outlived the deployment"
refused dr_bob "SELECT mf_undeploy($id)" 55000 "undeploying twice is refused" "already undeployed"
pass "the owner undeploys; the token hash is removed"
