-- Two sessions creating versions of one model at once get distinct versions, never an error.
-- Sessions are dblink connections to this database; what they commit is cleaned up at the end.
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT plan(7);

SELECT dblink_connect('c1', format('host=127.0.0.1 port=%s dbname=%s user=%s',
                                   current_setting('port'), current_database(), current_user));
SELECT dblink_connect('c2', format('host=127.0.0.1 port=%s dbname=%s user=%s',
                                   current_setting('port'), current_database(), current_user));

-- A brand-new model created by both at once: c2 waits for c1, then makes the next version.
SELECT dblink_exec('c1', 'BEGIN');
SELECT is((SELECT v FROM dblink('c1', $$SELECT mf_create_model('{"name": "race", "family": "kmeans", "k": 2}')$$) AS t(v text)),
          'race:1.0.0', 'first session creates race:1.0.0 (uncommitted)');
SELECT dblink_send_query('c2', $$SELECT mf_create_model('{"name": "race", "family": "kmeans", "k": 3}')$$);
SELECT pg_sleep(0.3);
SELECT is(dblink_is_busy('c2'), 1, 'second session waits for the first');
SELECT dblink_exec('c1', 'COMMIT');
SELECT is((SELECT v FROM dblink_get_result('c2') AS t(v text)), 'race:1.1.0', 'second session gets race:1.1.0');
SELECT * FROM dblink_get_result('c2') AS t(v text);

-- Versions of an existing model from both at once.
SELECT dblink_exec('c1', 'BEGIN');
SELECT is((SELECT v FROM dblink('c1', $$SELECT mf_create_version('race', '{}', '{"k": 4}')$$) AS t(v text)),
          'race:1.2.0', 'first session makes race:1.2.0');
SELECT dblink_send_query('c2', $$SELECT mf_create_version('race', '{}', '{"k": 5}')$$);
SELECT pg_sleep(0.3);
SELECT dblink_exec('c1', 'COMMIT');
SELECT is((SELECT v FROM dblink_get_result('c2') AS t(v text)), 'race:1.3.0', 'second session makes race:1.3.0');
SELECT * FROM dblink_get_result('c2') AS t(v text);

SELECT is((SELECT array_agg(version ORDER BY version) FROM mf.catalog WHERE model = 'race'),
          ARRAY['1.0.0', '1.1.0', '1.2.0', '1.3.0'], 'four distinct versions');
SELECT is((SELECT count(DISTINCT version) FROM mf.catalog WHERE model = 'race'), 4::bigint, 'no duplicates');

SELECT dblink_disconnect('c1');
SELECT dblink_disconnect('c2');
SELECT mf_drop_model('race');
SELECT * FROM finish();
