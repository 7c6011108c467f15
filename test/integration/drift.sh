#!/usr/bin/env bash
# mf_drift against independent computations: the KS statistic against
# SciPy's scipy.stats.ks_2samp (Debian python3-scipy) on the same values,
# and the PSI against a computation in this test (numpy deciles with linear
# interpolation, bins closed on the right, NULLs a bin, shares floored at
# 1e-4).  Two training sizes: 600 rows (the stored sample is every training
# value: KS is compared with ks_2samp on the training table itself) and
# 5000 rows (a seeded sample of 1000: compared with ks_2samp on the stored
# sample).  Also: who may run it (the model's owner and mf_admin, not a
# plain mf_reader), what readers see of the reference, the stored checks.
. "$(dirname "$0")/jobs_lib.bash"
wait_for_server || fail "server not reachable"
PY=/usr/bin/python3
"$PY" -c 'import scipy.stats, numpy' 2>/dev/null || fail "Debian's python3-scipy is missing (scripts/install-deps.sh)"

sql "CREATE EXTENSION IF NOT EXISTS mf_ext"
sql "SELECT mf_drop_model(name) FROM mf.models WHERE name IN ('dr_small', 'dr_large')"
drop_roles dr_owner dr_reader
sql "CREATE ROLE dr_owner LOGIN; GRANT mf_trainer TO dr_owner; CREATE ROLE dr_reader LOGIN; GRANT mf_reader TO dr_reader"
# Normal features (Box-Muller over a seeded random()), some NULLs, a category.
sql "DROP TABLE IF EXISTS dr_train, dr_train_big, dr_now;
     SELECT setseed(0.25);
     CREATE TABLE dr_train AS
     SELECT i, sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS x,
            CASE WHEN i % 20 = 0 THEN NULL ELSE round((10 * random())::numeric, 1)::float8 END AS z,
            (ARRAY['a', 'b', 'c'])[1 + (i % 3)] AS cat, (i % 2)::int AS y
       FROM generate_series(1, 600) i;
     CREATE TABLE dr_train_big AS
     SELECT i, sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS x,
            round((10 * random())::numeric, 1)::float8 AS z, (ARRAY['a', 'b', 'c'])[1 + (i % 3)] AS cat,
            (i % 2)::int AS y
       FROM generate_series(1, 5000) i;
     -- current rows: x shifted by 0.3 and wider, z with more NULLs, a new category
     CREATE TABLE dr_now AS
     SELECT i, 0.3 + 1.2 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS x,
            CASE WHEN i % 8 = 0 THEN NULL ELSE round((12 * random())::numeric, 1)::float8 END AS z,
            (ARRAY['a', 'b', 'c', 'd'])[1 + (i % 4)] AS cat
       FROM generate_series(1, 700) i;
     GRANT SELECT ON dr_train, dr_train_big, dr_now TO dr_owner, dr_reader"
as dr_owner "SELECT mf_create_model('{\"name\": \"dr_small\", \"family\": \"logistic_regression\"}')" >/dev/null
as dr_owner "SELECT mf_train('dr_small', 'SELECT x, z, cat, y FROM dr_train', 'y')" >/dev/null
as dr_owner "SELECT mf_create_model('{\"name\": \"dr_large\", \"family\": \"logistic_regression\"}')" >/dev/null
as dr_owner "SELECT mf_train('dr_large', 'SELECT x, z, cat, y FROM dr_train_big', 'y')" >/dev/null

[ "$(q "SELECT string_agg(feature || ':' || kind || ':' || n_rows || ':' || n_nulls, ' ' ORDER BY position)
         FROM mf.reference_distributions d JOIN mf.catalog c USING (version_id) WHERE c.ref = 'dr_small:1.0.0'")" \
	= "x:numeric:600:0 z:numeric:600:30 cat:categorical:600:0" ] || fail "the references of dr_small"
pass "training stored one reference per feature (kind, rows, NULLs)"
[ "$(q "SELECT jsonb_array_length(data -> 'sample') FROM mf.reference_distributions d JOIN mf.catalog c USING (version_id)
         WHERE c.ref = 'dr_large:1.0.0' AND feature = 'x'")" = 1000 ] || fail "the sample of 5000 values is not 1000"
pass "5000 training values: a sample of 1000 stored"

# A feature's values as one comma-separated line (shortest round-trip text).
vals() { q "SELECT coalesce(string_agg($1::text, ',' ORDER BY i), '') FROM $2 WHERE $1 IS NOT NULL"; }
# A reference's stored data as JSON.
refdata() {
	q "SELECT data FROM mf.reference_distributions d JOIN mf.catalog c USING (version_id)
	    WHERE c.ref = '$1:1.0.0' AND feature = '$2'"
}
# mf_drift's psi and ks of one feature, as "psi ks status".
drift() {
	as dr_owner "SELECT psi || ' ' || coalesce(ks::text, '-') || ' ' || status FROM mf_drift('$1', '$2') WHERE feature = '$3'"
}

# check MODEL TRAIN_TABLE FEATURE MODE: MODE full = KS against the training
# values themselves, sample = against the stored sample.
check() {
	local model="$1" train="$2" f="$3" mode="$4" got
	got="$(drift "$model" 'SELECT x, z, cat FROM dr_now' "$f")"
	"$PY" - "$got" "$(vals "$f" "$train")" "$(vals "$f" dr_now)" "$(refdata "$model" "$f")" \
		"$(q "SELECT count(*) FROM $train WHERE $f IS NULL")" "$(q "SELECT count(*) FROM dr_now WHERE $f IS NULL")" \
		"$mode" <<'EOF' || fail "$model.$f: mf_drift disagrees (got $got)"
import json, math, sys
import numpy as np
from scipy.stats import ks_2samp
got, train, now, ref, train_nulls, now_nulls, mode = sys.argv[1:]
psi, ks, status = got.split()
train = np.array([float(v) for v in train.split(',')])
now = np.array([float(v) for v in now.split(',')])
ref = json.loads(ref)
# KS: scipy on the training values (every one is in the sample) or on the stored sample
other = train if mode == 'full' else np.array(ref['sample'])
if mode == 'full':
    assert sorted(ref['sample']) == sorted(train.tolist()), 'the sample is not every training value'
expected_ks = ks_2samp(other, now).statistic
assert abs(float(ks) - expected_ks) <= 1e-12, f'ks {ks} != scipy {expected_ks}'
# PSI by hand: deciles of the training values, bins (e[i-1], e[i]], NULLs a bin, shares >= 1e-4
edges = np.unique(np.quantile(train, [k / 10 for k in range(1, 10)]))
assert np.allclose(edges, ref['edges'], rtol=0, atol=1e-12), f'edges {edges} != stored {ref["edges"]}'
def shares(values, nulls):
    counts = np.bincount(np.searchsorted(edges, values, side='left'), minlength=len(edges) + 1).tolist()
    counts.append(int(nulls))
    total = sum(counts)
    return [max(c / total, 1e-4) for c in counts]
p, q = shares(train, train_nulls), shares(now, now_nulls)
expected_psi = sum((b - a) * math.log(b / a) for a, b in zip(p, q))
assert abs(float(psi) - expected_psi) <= 1e-9 * max(1, expected_psi), f'psi {psi} != {expected_psi}'
expected_status = 'ok' if expected_psi < 0.1 else 'warning' if expected_psi < 0.25 else 'drift'
assert status == expected_status, f'status {status} != {expected_status}'
print(f'# {mode}: psi {float(psi):.6f} ks {float(ks):.6f} (scipy {expected_ks:.6f}) {status}')
EOF
	pass "$model.$f: KS equals scipy.stats.ks_2samp, PSI equals the computation by hand ($mode)"
}
check dr_small dr_train x full
check dr_small dr_train z full
check dr_large dr_train_big x sample
check dr_large dr_train_big z sample

# 50,000 rows: the numeric reference comes from a seeded sample of 20,000 rows
# (counts of those rows, NULLs scaled alike): the training rows compared with
# it show no drift.
sql "DROP TABLE IF EXISTS dr_huge; CREATE TABLE dr_huge AS
     SELECT i, (i * 7919 % 10007) / 100.0 AS x, CASE WHEN i % 9 = 0 THEN NULL ELSE (i % 17)::float8 END AS z,
            (ARRAY['a', 'b', 'c'])[1 + (i % 3)] AS cat, (i % 2)::int AS y
       FROM generate_series(1, 50000) i; GRANT SELECT ON dr_huge TO dr_owner"
as dr_owner "SELECT mf_create_model('{\"name\": \"dr_huge\", \"family\": \"logistic_regression\"}')" >/dev/null
as dr_owner "SELECT mf_train('dr_huge', 'SELECT x, z, cat, y FROM dr_huge', 'y')" >/dev/null
[ "$(q "SELECT string_agg(feature || ':' || ((SELECT sum(c::bigint) FROM jsonb_array_elements_text(data -> 'counts') c)
                                               BETWEEN CASE feature WHEN 'x' THEN 20000 ELSE 17000 END AND 20000), ' ' ORDER BY position)
         FROM mf.reference_distributions d JOIN mf.catalog c USING (version_id) WHERE c.ref = 'dr_huge:1.0.0' AND kind = 'numeric'")" \
	= "x:true z:true" ] || fail "the numeric references of 50,000 rows are not of 20,000 sampled rows"
got="$(as dr_owner "SELECT string_agg(feature || ':' || (psi < 0.005) || ':' || status, ' ' ORDER BY feature) FROM mf_drift('dr_huge', 'dr_huge')")"
[ "$got" = "cat:true:ok x:true:ok z:true:ok" ] || fail "50,000 rows against their sampled reference: $got"
pass "50,000 rows: the reference of a 20,000-row sample finds no drift in the training rows (psi < 0.005)"
sql "SELECT mf_drop_model('dr_huge'); DROP TABLE dr_huge"

# The categorical feature: shares of a, b, c (200 each), other (the new d), NULL.
got="$(drift dr_small 'SELECT x, z, cat FROM dr_now' cat)"
"$PY" - "$got" "$(q "SELECT string_agg(cat, ',' ORDER BY i) FROM dr_now")" <<'EOF' || fail "cat: $got"
import math, sys
psi, ks, status = sys.argv[1].split()
now = sys.argv[2].split(',')
p = [200 / 600] * 3 + [1e-4, 1e-4]
q = [max(now.count(c) / len(now), 1e-4) for c in 'abc'] + [now.count('d') / len(now), 1e-4]
expected = sum((b - a) * math.log(b / a) for a, b in zip(p, q))
assert ks == '-' and abs(float(psi) - expected) <= 1e-12, f'{psi} != {expected}'
EOF
pass "a categorical feature: PSI over its categories, other and NULL (by hand), no KS"

# Every call is stored for the alerts; readers see the checks and not the raw reference.
[ "$(q "SELECT count(*) FROM mf.drift_checks d JOIN mf.catalog c USING (version_id) WHERE c.model = 'dr_small'")" = 9 ] \
	|| fail "mf.drift_checks does not hold three features of three calls"
pass "each mf_drift call stored one row per feature in mf.drift_checks"
[ "$(as dr_reader "SELECT count(*) FROM mf.drift_checks")" -ge 9 ] || fail "a reader cannot read mf.drift_checks"
as dr_reader "SELECT feature, kind, n_rows, n_nulls FROM mf.reference_distributions" >/dev/null \
	|| fail "a reader cannot read the reference's summary"
refused dr_reader "SELECT data FROM mf.reference_distributions" 42501 "a reader reading the raw reference"
refused dr_reader "SELECT * FROM mf_drift('dr_small', 'dr_now')" 42501 "a reader running mf_drift" \
	'permission denied to check the drift of model "dr_small"'
pass "readers read the checks and the reference's summary, not its values; mf_drift is the owner's"
# The source runs with the caller's rights: the owner cannot read what it was not granted.
sql "REVOKE SELECT ON dr_now FROM dr_owner"
refused dr_owner "SELECT * FROM mf_drift('dr_small', 'dr_now')" 42501 "a source the caller may not read"
pass "the source runs with exactly the caller's rights"

sql "SELECT mf_drop_model(name) FROM mf.models WHERE name IN ('dr_small', 'dr_large')"
sql "DROP TABLE dr_train, dr_train_big, dr_now"
drop_roles dr_owner dr_reader
