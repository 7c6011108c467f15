-- Alert evaluation: fixture metric rows (written here as the superuser, as the monitor worker
-- will write them) -> a rule pending, firing once its condition held for "for", resolving when
-- it stops; each metric's value over its window; NOTIFY and webhook rows queued; a failing rule
-- does not stop the others; dropping a rule resolves its open alert.  mf._evaluate_alerts_at is
-- called directly with chosen times (the monitor worker calls mf._evaluate_alerts() once per
-- cycle); test/integration/alerts_webhook.sh runs the real worker, LISTEN and a webhook receiver.
BEGIN;
SELECT plan(43);

CREATE TABLE tap_al_data AS
SELECT i::float8 / 10 AS x, (i % 3 = 0)::int::text AS y FROM generate_series(1, 200) i;
SET LOCAL client_min_messages = warning;
SELECT mf_create_model('{"name": "tap_al", "family": "logistic_regression"}');
SELECT mf_train('tap_al', 'tap_al_data', 'y');
SELECT mf_deploy('tap_al', 'http', '{"name": "tap_al"}') AS dep \gset
SELECT mf_deploy('tap_al:1.0.0', 'http', '{"name": "tap_al_other"}') AS dep2 \gset

-- Fixture metrics: deployment :dep has 10 % errors in 10:00-10:02, none after; p99 up to 150 ms.
INSERT INTO mf.serving_metrics (model_name, version, deployment_id, minute, requests, errors,
								latency_p50_ms, latency_p95_ms, latency_p99_ms, bytes_in, bytes_out)
VALUES ('tap_al', '1.0.0', :dep, '2030-01-01 10:00+00', 100, 10, 2, 40, 150, 0, 0),
	   ('tap_al', '1.0.0', :dep, '2030-01-01 10:01+00', 300, 30, 4, 40, 90, 0, 0),
	   ('tap_al', '1.0.0', :dep, '2030-01-01 10:02+00', 100, 0, 2, 40, 50, 0, 0),
	   ('tap_al', '1.0.0', :dep2, '2030-01-01 10:01+00', 50, 50, 1, 1, 1, 0, 0);
INSERT INTO mf.health_checks (deployment_id, checked_at, "check", ok, latency_ms, http_status, error)
VALUES (:dep, '2030-01-01 10:00:00+00', 'ready', true, 1, 200, NULL),
	   (:dep, '2030-01-01 10:00:30+00', 'ready', false, 1, 503, 'not ready'),
	   (:dep, '2030-01-01 10:01:00+00', 'ready', false, NULL, NULL, 'connection refused'),
	   (:dep, '2030-01-01 10:01:30+00', 'ready', true, 1, 200, NULL);
INSERT INTO mf.model_performance (model_name, version, day, n, accuracy)
VALUES ('tap_al', '1.0.0', '2029-12-31', 100, 0.9), ('tap_al', '1.0.0', '2030-01-01', 300, 0.7);

-- mf_drift's results (the drift branch's mf.drift_checks, in its form; created here when that
-- branch is not merged): the highest feature PSI of the window.
CREATE TABLE IF NOT EXISTS mf.drift_checks (version_id bigint NOT NULL REFERENCES mf.model_versions ON DELETE CASCADE,
	checked_at timestamptz NOT NULL DEFAULT now(), feature text NOT NULL, psi float8, ks float8, status text, n_rows bigint);
INSERT INTO mf.drift_checks (version_id, checked_at, feature, psi, ks, status, n_rows)
SELECT version_id, t, f, p, NULL, 'ok', 100
  FROM mf.catalog, (VALUES ('2030-01-01 09:00+00'::timestamptz, 'x', 0.5), ('2030-01-01 10:00+00', 'x', 0.05),
					 ('2030-01-01 10:00+00', 'z', 0.3)) v(t, f, p)
 WHERE ref = 'tap_al:1.0.0';

-- Each metric over its window (the one reader, mf._alert_value).
SELECT is(mf._alert_value('error_rate', :'dep', '2 min', '2030-01-01 10:01:30+00'), 0.1::float8,
		  'error_rate: errors / requests of the minutes the window touches');
SELECT is(mf._alert_value('error_rate', :'dep', '1 min', '2030-01-01 10:03:30+00'), 0::float8,
		  'error_rate: 0 once the errors are out of the window');
SELECT is(mf._alert_value('error_rate', :'dep', '1 min', '2030-01-01 11:00+00'), NULL::float8,
		  'error_rate: NULL without requests');
SELECT is(mf._alert_value('error_rate', 'tap_al', '2 min', '2030-01-01 10:01:30+00'), 90 / 450.0::float8,
		  'a model target counts every deployment of the model');
SELECT is(mf._alert_value('latency_p99_ms', :'dep', '5 min', '2030-01-01 10:02:30+00'), 150::float8,
		  'latency_p99_ms: the highest per-minute p99');
SELECT is(mf._alert_value('latency_p50_ms', :'dep', '5 min', '2030-01-01 10:02:30+00'), (2 * 100 + 4 * 300 + 2 * 100) / 500.0::float8,
		  'latency_p50_ms: request-weighted mean of the medians');
SELECT is(mf._alert_value('throughput', :'dep', '5 min', '2030-01-01 10:02:30+00'), 500 / 300.0::float8,
		  'throughput: requests per second of the window');
SELECT is(mf._alert_value('throughput', :'dep', '5 min', '2030-01-01 12:00+00'), 0::float8, 'throughput: 0 without rows');
SELECT is(mf._alert_value('health', :'dep', '1 min', '2030-01-01 10:01:30+00'), 0.5::float8,
		  'health: share of the window''s checks that passed');
SELECT is(mf._alert_value('accuracy', 'tap_al', '2 days', '2030-01-01 12:00+00'), (0.9 * 100 + 0.7 * 300) / 400::float8,
		  'accuracy: n-weighted over the days the window touches');
SELECT is(mf._alert_value('drift_psi', 'tap_al:1.0.0', '1 hour', '2030-01-01 10:30+00'), 0.3::float8,
		  'drift_psi: the highest feature PSI of the window''s drift checks');
SELECT ok(mf_set_alert('tap_al', 'drift_psi', '>', 0.25) > 0, 'a drift_psi rule is accepted once mf.drift_checks exists');
DELETE FROM mf.alert_rules WHERE metric = 'drift_psi';

-- A rule with "for": pending, then firing, then resolving.
SELECT mf_set_alert(:'dep', 'error_rate', '>', 0.05, '{"window": "1 min", "for": "30 s", "webhook": "http://127.0.0.1:9/hook"}') AS r1 \gset
SELECT is(mf._evaluate_alerts_at('2030-01-01 10:00:30+00'), 0, 'the condition holds but not yet for 30 s: nothing fires');
SELECT is((SELECT pending_since FROM mf.alert_state WHERE rule_id = :r1), '2030-01-01 10:00:30+00'::timestamptz,
		  'the rule is pending since that evaluation');
SELECT is((SELECT count(*) FROM mf.alerts WHERE rule_id = :r1), 0::bigint, 'no alert row while pending');
SELECT is(mf._evaluate_alerts_at('2030-01-01 10:00:50+00'), 0, '20 s later: still pending');
SELECT is(mf._evaluate_alerts_at('2030-01-01 10:01:00+00'), 1, 'once it held for 30 s the alert fires');
SELECT is((SELECT started_at || ' ' || value FROM mf.alerts WHERE rule_id = :r1 AND resolved_at IS NULL),
		  '2030-01-01 10:01:00+00 0.1', 'an open alert with its start and value');
SELECT alike((SELECT message FROM mf.alerts WHERE rule_id = :r1), 'error_rate of deployment % is 0.1 (> 0.05 over %',
			'the message names metric, target, value and threshold');
SELECT is(mf._evaluate_alerts_at('2030-01-01 10:01:30+00'), 0, 'still holding: no second firing');
SELECT is((SELECT count(*) FROM mf.alerts WHERE rule_id = :r1), 1::bigint, 'one alert row while it holds');
SELECT is(mf._evaluate_alerts_at('2030-01-01 10:03:30+00'), 1, 'the errors are out of the window: it resolves');
SELECT is((SELECT resolved_at FROM mf.alerts WHERE rule_id = :r1), '2030-01-01 10:03:30+00'::timestamptz, 'resolved_at set');
SELECT is((SELECT pending_since FROM mf.alert_state WHERE rule_id = :r1), NULL, 'no longer pending');
SELECT is(mf._evaluate_alerts_at('2030-01-01 10:00:40+00') + mf._evaluate_alerts_at('2030-01-01 10:01:00+00'), 0,
		  'held again for only 20 s: does not fire again');
SELECT is(mf._evaluate_alerts_at('2030-01-01 10:01:20+00'), 1, 'after 40 s it fires again: a second row');
SELECT is((SELECT count(*) FROM mf.alerts WHERE rule_id = :r1), 2::bigint, 'two firings recorded');

-- Webhook rows: one per announcement, Alertmanager's payload.
SELECT is((SELECT string_agg(payload ->> 'status', ',' ORDER BY delivery_id) FROM mf.alert_webhooks w
			 JOIN mf.alerts a USING (alert_id) WHERE a.rule_id = :r1), 'firing,resolved,firing',
		  'a webhook delivery queued for each firing and resolution');
SELECT is((SELECT payload ->> 'version' || ' ' || (payload -> 'alerts' -> 0 -> 'labels' ->> 'alertname') || ' '
				  || (payload -> 'alerts' -> 0 ->> 'startsAt') || ' ' || (payload -> 'alerts' -> 0 ->> 'endsAt')
			 FROM mf.alert_webhooks w JOIN mf.alerts a USING (alert_id)
			WHERE a.rule_id = :r1 AND payload ->> 'status' = 'resolved'),
		  format('4 mf_rule_%s_error_rate 2030-01-01T10:01:00.000000Z 2030-01-01T10:03:30.000000Z', :r1),
		  'the resolved payload: version 4, alertname, startsAt and endsAt in RFC 3339');
SELECT is((SELECT url FROM mf.alert_webhooks LIMIT 1), 'http://127.0.0.1:9/hook', 'queued to the rule''s URL');

-- The retry schedule of deliveries.
SELECT is((SELECT count(*) FROM mf._webhook_claim(100)), 3::bigint, 'due deliveries are claimed');
SELECT is((SELECT count(*) FROM mf._webhook_claim(100)), 0::bigint, 'a claimed delivery is leased, not claimed twice');
SELECT mf._webhook_result(delivery_id, 500, NULL) FROM mf.alert_webhooks;
SELECT ok((SELECT bool_and(status = 'pending' AND last_error = 'HTTP status 500'
						   AND next_attempt_at BETWEEN clock_timestamp() AND clock_timestamp() + interval '1.1 s')
			 FROM mf.alert_webhooks), 'a 500 leaves it pending, retried after 1 s');
UPDATE mf.alert_webhooks SET attempts = 3;
SELECT mf._webhook_result(delivery_id, 0, 'connection refused') FROM mf.alert_webhooks;
SELECT ok((SELECT bool_and(next_attempt_at > clock_timestamp() + interval '3.9 s' AND last_error = 'connection refused')
			 FROM mf.alert_webhooks), 'the backoff doubles per attempt (4 s after the third)');
UPDATE mf.alert_webhooks SET attempts = mf._webhook_max_attempts();
SELECT mf._webhook_result(delivery_id, 503, NULL) FROM mf.alert_webhooks WHERE delivery_id = (SELECT min(delivery_id) FROM mf.alert_webhooks);
SELECT mf._webhook_result(delivery_id, 204, NULL) FROM mf.alert_webhooks WHERE delivery_id = (SELECT max(delivery_id) FROM mf.alert_webhooks);
SELECT is((SELECT string_agg(status, ',' ORDER BY delivery_id) FROM mf.alert_webhooks), 'failed,pending,delivered',
		  'given up after the last attempt; a 2xx delivers');

-- A rule that cannot be evaluated records its error; the others go on.
SELECT mf_set_alert('tap_al', 'health', '<', 0.5, '{"window": "1 min"}') AS r2 \gset
INSERT INTO mf.alert_rules (target, metric, condition, threshold, created_by) VALUES ('tap_al@gone', 'throughput', '<', 1, 'x');
SELECT is(mf._evaluate_alerts_at('2030-01-01 10:01:10+00'), 1, 'the health rule fires though another rule fails');
SELECT alike((SELECT error FROM mf.alert_state s JOIN mf.alert_rules r USING (rule_id) WHERE r.target = 'tap_al@gone'),
			'%gone%', 'the failing rule''s error is recorded');

-- Dropping a rule resolves its open alert and keeps the history.
SELECT lives_ok(format('SELECT mf_drop_alert(%s)', :r2), 'mf_drop_alert');
SELECT ok((SELECT resolved_at IS NOT NULL FROM mf.alerts WHERE rule_id = :r2), 'its open alert is resolved');
SELECT is((SELECT count(*) FROM mf.alert_rules WHERE rule_id = :r2), 0::bigint, 'the rule is gone');
SELECT is((SELECT count(*) FROM mf.alert_state WHERE rule_id = :r2), 0::bigint, 'so is its state');

-- The views.
SELECT is((SELECT open_alerts FROM mf.deployment_status WHERE deployment_id = :dep), 1::bigint,
		  'deployment_status counts the open alerts of the deployment');
SELECT is((SELECT count(*) FROM mf.model_performance_daily WHERE model_name = 'tap_al'), 2::bigint,
		  'model_performance_daily: one row per day');

SELECT * FROM finish();
ROLLBACK;
