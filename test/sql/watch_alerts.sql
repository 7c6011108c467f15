-- Alert rules: mf_set_alert / mf_drop_alert, the rows they write and every error with its
-- SQLSTATE (options' problems listed at once with their paths); who may set and drop rules;
-- mf_render_prometheus_rules; mf_debug and mf_deployment_log errors; mf_debug's artifact check of
-- a transformer version.  Evaluation is test/pgtap/alerts.sql, the webhook and NOTIFY
-- test/integration/alerts_webhook.sh.
-- (Named watch_alerts so that it runs after deploy.sql, whose expected output names deployment ids.)
\set SHOW_CONTEXT never

CREATE TABLE al_data AS SELECT i::float8 / 10 AS x, (i % 3 = 0)::int::text AS y FROM generate_series(1, 200) i;
SELECT mf_create_model('{"name": "al_churn", "family": "logistic_regression"}');
SELECT mf_train('al_churn', 'al_data', 'y') IS NOT NULL AS trained;
SET client_min_messages = warning;
SELECT mf_deploy('al_churn', 'http', '{"name": "al_served"}') AS dep \gset
RESET client_min_messages;

-- Rules on a model, a pinned version, a stage and a deployment (its id as text).
SELECT mf_set_alert('al_churn', 'error_rate', '>', 0.05, '{"window": "2 min", "for": "1 min", "webhook": "https://hooks.example/a?k=1"}') > 0 AS set;
SELECT mf_set_alert('al_churn:1.0.0', 'latency_p99_ms', '>=', 100) > 0 AS set;
SELECT mf_set_alert(' ' || :'dep' || ' ', 'HEALTH', '<', 1, '{"window": "30 s"}') > 0 AS set;
SELECT mf_set_alert('al_churn', 'throughput', '<=', 0, NULL) > 0 AS set;
SELECT mf_set_alert('al_churn', 'accuracy', '<', 0.8, '{"window": "7 days"}') > 0 AS set;
SELECT target = :'dep' AS is_dep, metric, condition, threshold, "window", "for", options, created_by = current_user AS by_me
  FROM mf.alert_rules ORDER BY rule_id;

-- Targets.
SELECT mf_set_alert('', 'error_rate', '>', 0.1);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('999999', 'error_rate', '>', 0.1);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('99999999999999999999', 'error_rate', '>', 0.1);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('al_chrun', 'error_rate', '>', 0.1);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('al_churn:9.9.9', 'error_rate', '>', 0.1);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('Not A Ref!', 'error_rate', '>', 0.1);
\echo :LAST_ERROR_SQLSTATE
-- Metrics, conditions, thresholds.
SELECT mf_set_alert('al_churn', 'latency_p99', '>', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('al_churn', 'cpu', '>', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('al_churn', NULL, '>', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('al_churn', 'error_rate', '=>', 0.1);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('al_churn', 'error_rate', '==', 0.1);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('al_churn', 'error_rate', '>', 5);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('al_churn', 'latency_p50_ms', '>', -1);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('al_churn', 'throughput', '>', 'NaN');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('al_churn', 'throughput', '>', 'Infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('al_churn', 'throughput', '>', NULL);
\echo :LAST_ERROR_SQLSTATE
-- Options: every problem at once, each with its path.
SELECT mf_set_alert('al_churn', 'error_rate', '>', 0.1,
                    '{"windw": "1 min", "window": "soon", "for": "-1 min", "webhook": "ftp://x", "severity": 1}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('al_churn', 'error_rate', '>', 0.1, '{"window": "0.5 s", "for": 30, "webhook": "http://a b"}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('al_churn', 'error_rate', '>', 0.1, '{"window": "400 days"}');
\echo :LAST_ERROR_SQLSTATE
SELECT mf_set_alert('al_churn', 'error_rate', '>', 0.1, '[1]');
\echo :LAST_ERROR_SQLSTATE

-- Who may set and drop rules: the model's owner (membership counts) and mf_admin.
CREATE ROLE al_reader;
GRANT mf_reader TO al_reader;
SET ROLE al_reader;
SELECT mf_set_alert('al_churn', 'error_rate', '>', 0.1);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_drop_alert(min(rule_id)) FROM mf.alert_rules;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) > 0 AS reads_rules FROM mf.alert_rules;
SELECT options FROM mf.alert_rules;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS webhooks FROM mf.alert_webhooks;
\echo :LAST_ERROR_SQLSTATE
SELECT mf._evaluate_alerts();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- Dropping.
SELECT mf_drop_alert(rule_id) FROM mf.alert_rules WHERE metric = 'accuracy';
SELECT count(*) AS rules_left FROM mf.alert_rules;
SELECT mf_drop_alert(999999);
\echo :LAST_ERROR_SQLSTATE

-- The same rules for Prometheus (ids masked: they depend on the tests before).
SELECT regexp_replace(regexp_replace(regexp_replace(mf_render_prometheus_rules(), 'mf_rule_[0-9]+_', 'mf_rule_<id>_', 'g'),
                                     '(rule_id: "|rule |target: ")[0-9]+', '\1<id>', 'g'),
                      '(rule [0-9]+|rule <id>) \(health of [0-9]+\)', 'rule <id> (health of <dep>)', 'g') AS rules;

-- Debug and log: unknown names.
SELECT mf_debug('al_nope');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM mf_deployment_log(999999);
\echo :LAST_ERROR_SQLSTATE
SELECT mf_debug('al_churn') -> 'artifact' ->> 'loads' AS loads, mf_debug('al_churn') -> 'cache' ->> 'cached' AS cached,
       jsonb_array_length(mf_debug('al_churn') -> 'deployments') AS deployments;
SELECT mf_prewarm('al_churn');
SELECT mf_debug('al_churn') -> 'cache' ->> 'cached' AS cached_after_prewarm;
SELECT source, message FROM mf_deployment_log(:dep);

-- mf_debug of a transformer version: its artifact is opened by the text models' loader (members,
-- weights, tokenizer), so it loads; with its tokenizer's bytes damaged (the checksum made right
-- again, so only that loader can tell) the report carries that loader's error.
CREATE TABLE al_text AS SELECT i, (ARRAY['red apple', 'green pear'])[1 + i % 2] AS body, (i % 2)::text AS label
  FROM generate_series(1, 20) i;
SELECT mf_create_model('transformer_encoder_classifier',
       '{"name": "al_text", "d_model": 8, "num_layers": 1, "num_heads": 2, "d_ff": 2, "vocab_size": 40,
         "max_length": 8, "num_classes": 2}');
SELECT mf_train('al_text', 'al_text', 'label', '{"text_column": "body", "epochs": 1}');
SELECT (mf_debug('al_text') -> 'artifact') - '{sha256,size_bytes}'::text[] AS artifact;
-- The artifact with its header's crc32 (zlib's, over every byte but the four at offset 36) recomputed.
CREATE FUNCTION pg_temp.recrc(b bytea) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
	tab		bigint[];
	c		bigint;
	d		bytea := overlay(b placing '\x'::bytea from 37 for 4);
BEGIN
	FOR i IN 0..255 LOOP
		c := i;
		FOR k IN 1..8 LOOP
			c := CASE WHEN c & 1 = 1 THEN (c >> 1) # 3988292384 ELSE c >> 1 END;
		END LOOP;
		tab[i] := c;
	END LOOP;
	c := 4294967295;
	FOR i IN 0..length(d) - 1 LOOP
		c := tab[(c # get_byte(d, i)) & 255] # (c >> 8);
	END LOOP;
	c := c # 4294967295;
	FOR k IN 0..3 LOOP
		b := set_byte(b, 36 + k, ((c >> (8 * k)) & 255)::int);
	END LOOP;
	RETURN b;
END;
$$;
SELECT pg_temp.recrc(a.bytes) = a.bytes AS crc_as_written
  FROM mf.artifacts a JOIN mf.catalog c USING (version_id) WHERE c.model = 'al_text';
UPDATE mf.artifacts a SET bytes = pg_temp.recrc(overlay(a.bytes placing 'AAAA'::bytea
                                                        from position('"model":"'::bytea in a.bytes) + 9))
  FROM mf.catalog c WHERE c.version_id = a.version_id AND c.model = 'al_text';
SELECT (mf_debug('al_text') -> 'artifact') - '{sha256,size_bytes}'::text[] AS damaged;

SELECT mf_drop_alert(rule_id) FROM mf.alert_rules WHERE target LIKE 'al\_churn%' OR target = :'dep';
SELECT mf_drop_model('al_churn');
SELECT mf_drop_model('al_text');
DROP TABLE al_data, al_text;
DROP ROLE al_reader;
