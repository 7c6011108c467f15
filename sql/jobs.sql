-- jobs.sql - background jobs.
-- Owns (PL/pgSQL): queueing jobs, their state changes (claim, begin, success,
-- failure, recovery), retrain policies and the promotion decision.  Thin
-- callers of C: the launcher and worker (bgworker/, src/job_worker.c), the
-- training arguments (mf._check_training, src/train_args.c, via
-- sql/training.sql's mf._training_call), counts and scores of a source run as
-- its author.  Statuses and phases are those of src/job_state.h; each state
-- change is one PL/pgSQL function, run by the launcher or worker through SPI
-- (C never writes mf.jobs itself).
-- PL/pgSQL functions of 25 lines or more, each the one owner of its rule:
--   mf._queue_train: what may be queued (max_attempts, a launcher serving this
--     database, one active job per version); the arguments are checked by C
--   mf._retrain: the retrain policy options and their defaults, which version
--     a bare name retrains, skipping on too few new rows (counted by C)
--   mf._decide_promotion: the promotion decision (the version compared with is
--     scored by C on the candidate's test split) and the candidate's stage
--   mf._claim_job: queued -> running (oldest first; dropped roles fail)
--   mf._recover_jobs: running without a worker -> queued again or failed
--   mf._job_begin: a worker takes its job; the version -> training
--   mf._job_succeeded: running -> succeeded, the epoch log, the promotion
--   mf._job_failed: running -> failed or cancelled (re-queued on shutdown)
--   mf._wait: waiting for a job (progress lines, snapshot rule)
--   mf._cancel_job: who may cancel, queued -> cancelled or a running stop

-- ===========================================================================
-- Background training jobs (bgworker/, src/job_worker.c)
-- ===========================================================================
-- mf_train_async() and mf_retrain() queue a row in mf.jobs in the caller's
-- transaction; at commit the launcher (preloaded mf_ext.so, database
-- mf.database) is woken, claims the row and starts one worker per job, which
-- runs mf_train() and records the outcome. Progress reaches mf.jobs through
-- the launcher at most once a second; mf.job_events is the job's log.

CREATE FUNCTION mf._jobs_state(OUT preloaded boolean, OUT served_database text, OUT launcher_pid integer)
	RETURNS record
	AS 'MODULE_PATHNAME', 'mf_jobs_state'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._jobs_state() IS
	'whether mf_ext is preloaded, the database its launcher serves (mf.database) and the launcher pid (0 when not running)';

CREATE FUNCTION mf._job_states() RETURNS TABLE(kind text, name text)
	AS 'MODULE_PATHNAME', 'mf_job_states'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION mf._job_states() IS
	'every job status and phase the C code knows (src/job_state.h), as (kind, name); the CHECKs of mf.jobs must list the same';

CREATE FUNCTION mf._wake_launcher_at_commit() RETURNS void
	AS 'MODULE_PATHNAME', 'mf_wake_launcher_at_commit'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._wake_launcher_at_commit() IS 'set the launcher''s latch when the current transaction commits';

CREATE FUNCTION mf._signal_job(job_id bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'mf_signal_job'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION mf._signal_job(bigint) IS
	'ask the worker of a running job whose row has cancel_requested to stop (SIGINT while it trains); true when a worker was found';

CREATE FUNCTION mf._evaluate_on_split(artifact bytea, source text, target text, options jsonb,
									  author oid, search_path text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'mf_evaluate_split_options'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._evaluate_on_split(bytea, text, text, jsonb, oid, text) IS
	'metrics of an artifact on the test rows of the split training makes with these run options (test_size, seed, stratify; training''s defaults); the source runs as role author on search_path';

CREATE FUNCTION mf._count_source(source text, author oid, search_path text) RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_count_source'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf._count_source(text, oid, text) IS 'number of rows of a training source now, read as role author on search_path';

-- OID of a role that wrote a source (42704 when it was dropped).
CREATE FUNCTION mf._author_oid(author name) RETURNS oid
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	o		oid := (SELECT ro.oid FROM pg_catalog.pg_roles ro WHERE ro.rolname = author);
BEGIN
	IF o IS NULL THEN
		RAISE EXCEPTION 'role "%" that wrote the training source no longer exists', author
			USING ERRCODE = 'undefined_object',
				  HINT = 'A source runs with the rights of its author only; train the model again with mf_train() to give it a new author.';
	END IF;
	RETURN o;
END;
$$;

-- Append one line to a job's log.
CREATE FUNCTION mf._job_event(job_id bigint, level text, message text, details jsonb DEFAULT NULL) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	INSERT INTO mf.job_events (job_id, level, message, details) VALUES (job_id, level, message, details);
$$;
COMMENT ON FUNCTION mf._job_event(bigint, text, text, jsonb) IS 'append a line to a job''s log';

-- Mark a version failed, with the reason in its metadata and an audit event.
CREATE FUNCTION mf._fail_version(version_id bigint, reason text, message text, job_id bigint) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	v		record;
BEGIN
	UPDATE mf.model_versions mv
	   SET status = 'failed',
		   metadata = mv.metadata || jsonb_build_object('failure', jsonb_build_object(
				'reason', reason, 'error', message, 'job_id', job_id, 'at', clock_timestamp()))
	 WHERE mv.version_id = _fail_version.version_id AND mv.status IN ('created', 'training')
	RETURNING mv.model_id, mv.version INTO v;
	IF FOUND THEN
		PERFORM mf._event('train', v.model_id, (SELECT name FROM mf.models m WHERE m.model_id = v.model_id),
						  _fail_version.version_id, v.version, NULL,
						  jsonb_build_object('status', 'failed', 'reason', reason, 'error', message, 'job_id', job_id));
	END IF;
END;
$$;
COMMENT ON FUNCTION mf._fail_version(bigint, text, text, bigint) IS
	'mark an untrained version failed: metadata.failure holds the reason (cancelled, timeout, error, worker died), the error and the job';

-- 55000 unless this database's launcher can run jobs (mf_ext preloaded, mf.database is this one); its state.
CREATE FUNCTION mf._require_job_launcher(OUT preloaded boolean, OUT served_database text, OUT launcher_pid integer)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	SELECT * INTO preloaded, served_database, launcher_pid FROM mf._jobs_state();
	IF NOT preloaded THEN
		RAISE EXCEPTION 'background jobs need mf_ext in shared_preload_libraries'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('shared_preload_libraries is ''%s''.', current_setting('shared_preload_libraries')),
				  HINT = 'Add mf_ext to shared_preload_libraries in postgresql.conf and restart the server; mf_train() trains in this session meanwhile.';
	END IF;
	IF served_database IS DISTINCT FROM current_database() THEN
		RAISE EXCEPTION 'the mf_ext launcher runs jobs of database "%", not of "%"', served_database, current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = format('Queue jobs in database "%s", or set mf.database = ''%s'' in postgresql.conf and restart the server.',
								served_database, current_database());
	END IF;
END;
$$;
COMMENT ON FUNCTION mf._require_job_launcher() IS
	'55000 unless background jobs can run for this database (mf_ext preloaded, mf.database names it); returns the launcher state';

-- After inserting a job: warn when no launcher runs, wake it at commit.
CREATE FUNCTION mf._job_queued(job_id bigint, launcher_pid integer) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	IF launcher_pid = 0 THEN
		RAISE WARNING 'job % is queued but the mf_ext launcher is not running', job_id
			USING HINT = 'The launcher restarts within seconds after an error; if it does not, read the server log. The job runs once it is back.';
	END IF;
	PERFORM mf._wake_launcher_at_commit();
END;
$$;
COMMENT ON FUNCTION mf._job_queued(bigint, integer) IS 'after queuing a job: warn when no launcher runs, wake it at commit';

-- Queue a training job for a ref after validating everything that can be checked now.
CREATE FUNCTION mf._queue_train(ref text, source text, target text, options jsonb, policy jsonb,
								run_as oid, search_path text) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	c		record;
	st		record;
	max_att integer := 1;
	active	bigint;
	id		bigint;
BEGIN
	IF ref IS NULL THEN
		RAISE EXCEPTION 'ref must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	options := mf._options_object(options);
	IF options ? 'max_attempts' THEN
		IF jsonb_typeof(options -> 'max_attempts') <> 'number' OR (options ->> 'max_attempts') !~ '^[0-9]+$'
		   OR (options ->> 'max_attempts')::numeric NOT BETWEEN 1 AND 100 THEN
			RAISE EXCEPTION 'option "max_attempts" must be an integer between 1 and 100'
				USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', options -> 'max_attempts');
		END IF;
		max_att := (options ->> 'max_attempts')::integer;
	END IF;

	PERFORM mf._require_owner((SELECT r.model_id FROM mf._resolve(ref) r), 'train');
	SELECT * INTO c FROM mf._training_call(ref, source, target, options - 'max_attempts');
	PERFORM mf._check_training(c.config, c.source, c.target, c.runopts, run_as, search_path);

	SELECT * INTO st FROM mf._require_job_launcher();
	SELECT j.job_id INTO active FROM mf.jobs j
	 WHERE j.version_id = c.version_id AND j.status IN ('queued', 'running');
	IF FOUND THEN
		RAISE EXCEPTION 'version "%" of model "%" already has job %', c.version, c.model_name, active
			USING ERRCODE = 'object_in_use',
				  HINT = format('mf_wait(%s) waits for it; mf_cancel_job(%s) cancels it.', active, active);
	END IF;

	INSERT INTO mf.jobs (kind, version_id, source, target, options, policy, max_attempts, queued_by, run_as, search_path)
	VALUES ('train', c.version_id, c.source, c.target, c.options, policy, max_att, mf._actor(),
			pg_catalog.pg_get_userbyid(run_as), search_path)
	RETURNING job_id INTO id;
	PERFORM mf._job_event(id, 'info', format('queued by %s: train %s:%s', mf._actor(), c.model_name, c.version),
						  jsonb_build_object('options', c.options, 'policy', policy));
	PERFORM mf._event('queue_job', c.model_id, c.model_name, c.version_id, c.version, NULL,
					  jsonb_build_object('job_id', id, 'target', c.target, 'options', c.options, 'policy', policy));
	PERFORM mf._job_queued(id, st.launcher_pid);
	RETURN id;
END;
$$;
COMMENT ON FUNCTION mf._queue_train(text, text, text, jsonb, jsonb, oid, text) IS
	'validate and queue a training job whose source runs as run_as on search_path (a trained ref gets a derived version first); returns the job id';

CREATE FUNCTION mf._train_async(ref text, source text DEFAULT NULL, target text DEFAULT NULL, options jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT mf._queue_train(ref, source, target, options, NULL, mf._caller(), mf._caller_search_path());
$$;
CREATE FUNCTION mf_train_async(ref text, source text DEFAULT NULL, target text DEFAULT NULL, options jsonb DEFAULT '{}') RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_train_async(text, text, text, jsonb) IS
	'queue mf_train(ref, source, target, options) as a background job in this transaction (nothing runs if it rolls back); options may add max_attempts; returns the job id';

CREATE FUNCTION mf._retrain(ref text, options jsonb DEFAULT '{}') RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	policy_keys constant text[] := ARRAY['promote', 'metric', 'min_delta', 'min_new_rows', 'kept_stage'];
	r		record;
	v		mf.model_versions;
	policy	jsonb;
	spec	jsonb;
	seen	bigint;
	now_rows bigint;
	author	oid;
BEGIN
	IF ref IS NULL THEN
		RAISE EXCEPTION 'ref must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	options := mf._options_object(options);
	policy := jsonb_build_object('promote', coalesce(options ->> 'promote', 'if_better'),
								 'min_delta', coalesce(options -> 'min_delta', '0'),
								 'min_new_rows', coalesce(options -> 'min_new_rows', '0'),
								 'kept_stage', coalesce(options ->> 'kept_stage', 'archived'))
			  || jsonb_strip_nulls(jsonb_build_object('metric', options -> 'metric'));
	IF policy ->> 'kept_stage' NOT IN ('archived', 'development') THEN
		RAISE EXCEPTION 'option "kept_stage" must be "archived" or "development"'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', options -> 'kept_stage'),
				  HINT = 'A retrained version that is not promoted is archived unless kept_stage is "development".';
	END IF;
	IF policy ->> 'promote' NOT IN ('never', 'always', 'if_better') THEN
		RAISE EXCEPTION 'option "promote" must be "never", "always" or "if_better"'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', options -> 'promote');
	END IF;
	IF policy ? 'metric' AND mf._metric_kind(policy ->> 'metric') IS NULL THEN
		RAISE EXCEPTION 'option "metric" must be one of %', 'accuracy, precision, recall, f1, roc_auc, log_loss, r2, mse, rmse, mae, inertia'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', policy -> 'metric');
	END IF;
	IF jsonb_typeof(policy -> 'min_delta') <> 'number' OR (policy ->> 'min_delta')::float8 < 0 THEN
		RAISE EXCEPTION 'option "min_delta" must be a number >= 0'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', policy -> 'min_delta');
	END IF;
	IF jsonb_typeof(policy -> 'min_new_rows') <> 'number' OR (policy ->> 'min_new_rows') !~ '^[0-9]+$' THEN
		RAISE EXCEPTION 'option "min_new_rows" must be an integer >= 0'
			USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', policy -> 'min_new_rows');
	END IF;

	SELECT * INTO r FROM mf._resolve(ref);
	SELECT * INTO v FROM mf.model_versions mv WHERE mv.version_id = r.version_id;
	IF v.training_spec IS NULL AND ref !~ '[:@]' THEN
		-- a bare name without production version: the newest trained version (not a failed retrain)
		SELECT * INTO v FROM mf.model_versions mv
		 WHERE mv.model_id = r.model_id AND mv.status = 'trained' AND mv.training_spec IS NOT NULL
		 ORDER BY mv.version_id DESC LIMIT 1;
		IF FOUND THEN
			SELECT * INTO r FROM mf._resolve(mf._ref(v.version_id));
		END IF;
	END IF;
	PERFORM mf._require_owner(r.model_id, 'retrain');
	spec := v.training_spec;
	IF spec IS NULL THEN
		RAISE EXCEPTION 'version "%" of model "%" has no training_spec', r.version, r.model_name
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Train it once with mf_train() or mf_train_async(); mf_retrain() repeats that training on the current data.';
	END IF;

	-- the stored source runs as the role that stored it (0.1.0 stored none: the version's creator)
	author := mf._author_oid(coalesce(spec ->> 'run_as', v.created_by));
	IF (policy ->> 'min_new_rows')::bigint > 0 THEN
		seen := coalesce((v.metrics ->> 'train_rows')::bigint, 0) + coalesce((v.metrics ->> 'test_rows')::bigint, 0);
		now_rows := mf._count_source(spec ->> 'source', author, coalesce(spec ->> 'search_path', '"$user", public'));
		IF now_rows - seen < (policy ->> 'min_new_rows')::bigint THEN
			PERFORM mf._event('retrain_skipped', r.model_id, r.model_name, r.version_id, r.version, NULL,
							  jsonb_build_object('rows_seen', seen, 'rows_now', now_rows,
												 'min_new_rows', policy -> 'min_new_rows'));
			RAISE NOTICE 'retraining of "%:%" skipped: % new rows since its training, min_new_rows is %',
				r.model_name, r.version, now_rows - seen, policy ->> 'min_new_rows';
			RETURN NULL;
		END IF;
	END IF;
	RETURN mf._queue_train(mf._ref(r.version_id), spec ->> 'source', spec ->> 'target',
						   coalesce(spec -> 'options', '{}') || (options - policy_keys), policy,
						   author, coalesce(spec ->> 'search_path', '"$user", public'));
END;
$$;
CREATE FUNCTION mf_retrain(ref text, options jsonb DEFAULT '{}') RETURNS bigint
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_retrain(text, jsonb) IS
	'queue training of a new version from the stored training_spec on the current data (a bare name: the production version, else the newest trained one); policy options promote (never, always, if_better), metric, min_delta, min_new_rows; NULL when skipped for too few new rows';

-- The promotion decision of a retrain job, taken in the worker's training transaction.
CREATE FUNCTION mf._decide_promotion(job mf.jobs, v mf.model_versions) RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	promote text := coalesce(job.policy ->> 'promote', 'if_better');
	task	text := v.feature_schema ->> 'task';
	metric	text := coalesce(job.policy ->> 'metric',
							 CASE task WHEN 'classification' THEN 'accuracy' WHEN 'regression' THEN 'r2' ELSE 'inertia' END);
	lower_better boolean;
	min_delta float8 := coalesce((job.policy ->> 'min_delta')::float8, 0);
	new_score float8 := (v.metrics ->> metric)::float8;
	base	mf.model_versions;	-- the production version, else the version retrained
	against text := 'production';
	base_score float8;
	decision text;
	reason	text;
	out		jsonb;
BEGIN
	lower_better := mf._metric_kind(metric) = 'error';
	SELECT * INTO base FROM mf.model_versions mv WHERE mv.model_id = v.model_id AND mv.stage = 'production';
	IF NOT FOUND THEN
		against := 'retrained version';
		SELECT * INTO base FROM mf.model_versions mv WHERE mv.version_id = v.parent_version_id AND mv.status = 'trained';
	END IF;
	IF base.version_id IS NOT NULL THEN
		BEGIN
			base_score := (mf._evaluate_on_split((SELECT a.bytes FROM mf.artifacts a WHERE a.version_id = base.version_id),
												 job.source, job.target, job.options,
												 mf._author_oid(job.run_as), job.search_path) ->> metric)::float8;
		EXCEPTION WHEN OTHERS THEN
			reason := format('the %s could not be evaluated: %s', against, SQLERRM);
		END;
	END IF;
	IF promote = 'never' THEN
		decision := 'kept';
		reason := 'policy never promotes';
	ELSIF promote = 'always' THEN
		decision := 'promoted';
		reason := 'policy always promotes';
	ELSIF base.version_id IS NULL THEN
		decision := 'promoted';
		reason := 'no production version and no trained version to compare with';
	ELSIF new_score IS NULL OR base_score IS NULL THEN
		decision := 'kept';
		reason := coalesce(reason, format('metric "%s" is missing', metric));
	ELSIF (lower_better AND new_score < base_score - min_delta)
		  OR (NOT lower_better AND new_score > base_score + min_delta) THEN
		decision := 'promoted';
		reason := format('%s %s beats %s of the %s by more than min_delta %s', metric, new_score, base_score, against, min_delta);
	ELSE
		decision := 'kept';
		reason := format('%s %s does not beat %s of the %s by more than min_delta %s', metric, new_score, base_score,
						 against, min_delta);
	END IF;
	IF decision = 'promoted' THEN
		PERFORM mf._set_stage(mf._ref(v.version_id), 'production');
	ELSIF coalesce(job.policy ->> 'kept_stage', 'archived') = 'archived' THEN
		PERFORM mf._set_stage(mf._ref(v.version_id), 'archived');
	END IF;
	out := jsonb_build_object('decision', decision, 'policy', promote, 'metric', metric, 'min_delta', min_delta,
							  'new_version', mf._ref(v.version_id), 'new_score', new_score,
							  'compared_with', CASE WHEN base.version_id IS NOT NULL THEN against END,
							  'compared_version', mf._ref(base.version_id), 'compared_score', base_score,
							  'production_version', CASE WHEN against = 'production' THEN mf._ref(base.version_id) END,
							  'production_score', CASE WHEN against = 'production' THEN base_score END,
							  'kept_stage', CASE WHEN decision = 'kept' THEN coalesce(job.policy ->> 'kept_stage', 'archived') END,
							  'same_test_split', base_score IS NOT NULL, 'reason', reason, 'job_id', job.job_id);
	PERFORM mf._event('promotion', v.model_id, (SELECT name FROM mf.models m WHERE m.model_id = v.model_id),
					  v.version_id, v.version,
					  jsonb_build_object('compared_version', mf._ref(base.version_id), 'compared_score', base_score),
					  out);
	RETURN out;
END;
$$;
COMMENT ON FUNCTION mf._decide_promotion(mf.jobs, mf.model_versions) IS
	'apply a retrain policy: the new version and the production version (else the version retrained) scored on the same test split; promotes when the policy says so, else archives the candidate (kept_stage); records the decision in mf.events';

-- Launcher: claim the oldest queued job (a job whose role was dropped fails here).
CREATE FUNCTION mf._claim_job(launcher_pid integer, OUT job_id bigint, OUT role_oid oid) RETURNS SETOF record
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
BEGIN
	LOOP
		UPDATE mf.jobs u
		   SET status = 'running', attempts = u.attempts + 1, started_at = clock_timestamp(),
			   heartbeat_at = clock_timestamp(), worker_pid = NULL, phase = 'loading', progress = 0,
			   epoch = NULL, total_epochs = NULL, loss = NULL
		 WHERE u.job_id = (SELECT q.job_id FROM mf.jobs q WHERE q.status = 'queued'
							ORDER BY q.job_id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING u.* INTO j;
		IF NOT FOUND THEN
			RETURN;
		END IF;
		role_oid := (SELECT ro.oid FROM pg_catalog.pg_roles ro WHERE ro.rolname = j.queued_by);
		IF role_oid IS NULL OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles ro WHERE ro.rolname = j.run_as) THEN
			UPDATE mf.jobs u SET status = 'failed', finished_at = clock_timestamp(),
				   error = format('role "%s" that queued the job or role "%s" that wrote its source no longer exists',
								  j.queued_by, j.run_as)
			 WHERE u.job_id = j.job_id;
			PERFORM mf._fail_version(j.version_id, 'error', 'the role that queued the job or wrote its source no longer exists', j.job_id);
			PERFORM mf._deploy_job_lost(j.job_id);
			CONTINUE;
		END IF;
		PERFORM mf._job_event(j.job_id, 'info', format('claimed by the launcher (pid %s), attempt %s of %s',
													   launcher_pid, j.attempts, j.max_attempts));
		job_id := j.job_id;
		RETURN NEXT;
		RETURN;
	END LOOP;
END;
$$;
COMMENT ON FUNCTION mf._claim_job(integer) IS 'launcher: claim the oldest queued job (FOR UPDATE SKIP LOCKED) and return it with the role that queued it';

-- Launcher: put back a claimed job whose worker could not be started.
CREATE FUNCTION mf._unclaim_job(job_id bigint) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	UPDATE mf.jobs u SET status = 'queued', attempts = u.attempts - 1, started_at = NULL, heartbeat_at = NULL,
		   phase = NULL, progress = 0
	 WHERE u.job_id = _unclaim_job.job_id AND u.status = 'running';
$$;
COMMENT ON FUNCTION mf._unclaim_job(bigint) IS 'launcher: re-queue a claimed job whose worker could not be started (no free worker process)';

-- Launcher: running jobs whose worker is gone are re-queued or failed.
CREATE FUNCTION mf._recover_jobs(live bigint[]) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
	n		integer := 0;
	why		text;
BEGIN
	FOR j IN SELECT * FROM mf.jobs u WHERE u.status = 'running' AND NOT (u.job_id = ANY (live))
			 ORDER BY u.job_id FOR UPDATE SKIP LOCKED LOOP
		n := n + 1;
		why := format('the worker%s ended without finishing the job (server crash, restart or fatal error)',
					  coalesce(' (pid ' || j.worker_pid || ')', ''));
		IF j.cancel_requested THEN
			UPDATE mf.jobs u SET status = 'cancelled', finished_at = clock_timestamp(), error = 'cancelled by mf_cancel_job()',
				   result = jsonb_build_object('reason', 'cancelled')
			 WHERE u.job_id = j.job_id;
			PERFORM mf._fail_version(j.version_id, 'cancelled', 'cancelled by mf_cancel_job()', j.job_id);
			PERFORM mf._deploy_job_lost(j.job_id);
			PERFORM mf._job_event(j.job_id, 'error', why || '; it had been cancelled');
		ELSIF j.attempts < j.max_attempts THEN
			UPDATE mf.jobs u SET status = 'queued', worker_pid = NULL, phase = NULL, progress = 0, started_at = NULL
			 WHERE u.job_id = j.job_id;
			UPDATE mf.model_versions mv SET status = 'created' WHERE mv.version_id = j.version_id AND mv.status = 'training';
			PERFORM mf._job_event(j.job_id, 'warning', format('%s; re-queued (attempt %s of %s done)', why, j.attempts, j.max_attempts));
		ELSE
			UPDATE mf.jobs u SET status = 'failed', finished_at = clock_timestamp(),
				   error = format('%s; %s of %s attempts used', why, j.attempts, j.max_attempts),
				   result = jsonb_build_object('reason', 'worker died')
			 WHERE u.job_id = j.job_id;
			PERFORM mf._fail_version(j.version_id, 'worker died', why, j.job_id);
			PERFORM mf._deploy_job_lost(j.job_id);
			PERFORM mf._job_event(j.job_id, 'error', format('%s; %s of %s attempts used: failed', why, j.attempts, j.max_attempts));
		END IF;
	END LOOP;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION mf._recover_jobs(bigint[]) IS
	'launcher: running jobs not in the live list lost their worker: re-queued while attempts < max_attempts, else failed with their version';

-- Launcher: copy a worker's progress (at most once a second per job).
-- A job worker of a kind other than train takes its running job: its pid, its
-- first phase; the job row, or NULL when the job is not this kind's or not running.
CREATE FUNCTION mf._take_job(job_id bigint, pid integer, kind text, phase text, progress float8) RETURNS mf.jobs
LANGUAGE sql
SET search_path = pg_catalog, mf, pg_temp AS $$
	UPDATE mf.jobs u SET worker_pid = _take_job.pid, phase = _take_job.phase, progress = _take_job.progress,
		   heartbeat_at = clock_timestamp()
	 WHERE u.job_id = _take_job.job_id AND u.status = 'running' AND u.kind = _take_job.kind
	RETURNING u.*;
$$;
COMMENT ON FUNCTION mf._take_job(bigint, integer, text, text, float8) IS
	'deploy and smoke-test workers: take the running job of that kind (pid, first phase, progress); NULL when it is not theirs';

CREATE FUNCTION mf._job_progress(job_id bigint, phase text, progress float8, epoch bigint, total_epochs bigint,
								 loss float8, seen_at timestamptz, log_epoch boolean) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	UPDATE mf.jobs u
	   SET phase = _job_progress.phase, progress = greatest(u.progress, least(_job_progress.progress, 1)),
		   epoch = coalesce(_job_progress.epoch, u.epoch), total_epochs = coalesce(_job_progress.total_epochs, u.total_epochs),
		   loss = coalesce(_job_progress.loss, u.loss), heartbeat_at = seen_at
	 WHERE u.job_id = _job_progress.job_id AND u.status = 'running';
	IF FOUND AND log_epoch THEN
		PERFORM mf._job_event(job_id, 'progress',
							  format('%s: epoch %s of %s, loss %s, %s%% done', phase, _job_progress.epoch,
									 _job_progress.total_epochs, round(_job_progress.loss::numeric, 6),
									 round((_job_progress.progress * 100)::numeric)),
							  jsonb_build_object('epoch', _job_progress.epoch, 'loss', _job_progress.loss,
												 'progress', _job_progress.progress));
	END IF;
END;
$$;
COMMENT ON FUNCTION mf._job_progress(bigint, text, float8, bigint, bigint, float8, timestamptz, boolean) IS
	'launcher: write a running job''s progress, phase, epoch, loss and heartbeat; log a progress line for a new epoch';

-- Worker: take the job (pid, phase, version status); no row when it is not running any more.
CREATE FUNCTION mf._job_begin(job_id bigint, pid integer, blas_threads integer, OUT ref text, OUT source text, OUT target text,
							  OUT options jsonb, OUT cancel_requested boolean, OUT run_as oid,
							  OUT search_path text) RETURNS SETOF record
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
BEGIN
	UPDATE mf.jobs u SET worker_pid = pid, phase = 'loading', progress = 0.05, heartbeat_at = clock_timestamp()
	 WHERE u.job_id = _job_begin.job_id AND u.status = 'running'
	RETURNING u.* INTO j;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	UPDATE mf.model_versions mv SET status = 'training' WHERE mv.version_id = j.version_id AND mv.status <> 'trained';
	IF NOT FOUND THEN
		UPDATE mf.jobs u SET status = 'failed', finished_at = clock_timestamp(),
			   error = 'the version to train was dropped or is already trained'
		 WHERE u.job_id = j.job_id;
		PERFORM mf._job_event(j.job_id, 'error', 'the version to train was dropped or is already trained');
		RETURN;
	END IF;
	PERFORM mf._job_event(j.job_id, 'info', format('started in worker %s with %s BLAS thread(s): loading the source as role %s',
												   pid, blas_threads, j.run_as),
						  jsonb_build_object('worker_pid', pid, 'blas_threads', blas_threads));
	ref := mf._ref(j.version_id);
	source := j.source;
	target := j.target;
	options := j.options;
	cancel_requested := j.cancel_requested;
	run_as := (SELECT ro.oid FROM pg_catalog.pg_roles ro WHERE ro.rolname = j.run_as);
	search_path := j.search_path;
	RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION mf._job_begin(bigint, integer, integer) IS
	'job worker: record its pid, phase loading and the version as training; returns what to train (no row: nothing to do)';

-- Worker: the job succeeded (same transaction as the training).
CREATE FUNCTION mf._job_succeeded(job_id bigint, trained_ref text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
	v		mf.model_versions;
	decision jsonb;
	h		jsonb;
BEGIN
	SELECT * INTO j FROM mf.jobs u WHERE u.job_id = _job_succeeded.job_id;
	SELECT mv.* INTO v FROM mf.model_versions mv WHERE mv.version_id = (SELECT r.version_id FROM mf._resolve(trained_ref) r);
	h := v.metrics -> 'history';
	INSERT INTO mf.job_events (job_id, level, message, details)
	SELECT j.job_id, 'epoch', format('epoch %s: loss %s%s', e.n, round(e.loss::numeric, 6),
									 coalesce(', val_loss ' || round(vl.value::text::numeric, 6), '')),
		   jsonb_build_object('epoch', e.n, 'loss', e.loss, 'val_loss', vl.value)
	  FROM jsonb_array_elements_text(coalesce(h -> 'loss', '[]')) WITH ORDINALITY AS e(loss, n)
	  LEFT JOIN LATERAL (SELECT nullif(h -> 'val_loss' -> (e.n::int - 1), 'null') AS value) vl ON true
	 WHERE e.loss IS NOT NULL
	 ORDER BY e.n LIMIT 10000;
	IF j.policy IS NOT NULL THEN
		decision := mf._decide_promotion(j, v);
	END IF;
	UPDATE mf.jobs u
	   SET status = 'succeeded', progress = 1, phase = 'registering', finished_at = clock_timestamp(),
		   heartbeat_at = clock_timestamp(),
		   epoch = coalesce(jsonb_array_length(h -> 'loss'), u.epoch),
		   loss = coalesce((h -> 'loss' ->> (jsonb_array_length(h -> 'loss') - 1))::float8, u.loss),
		   result = jsonb_strip_nulls(jsonb_build_object('ref', trained_ref,
				'metrics', v.metrics - 'history' - 'confusion_matrix', 'promotion', decision))
	 WHERE u.job_id = j.job_id;
	PERFORM mf._job_event(j.job_id, 'info', format('succeeded: trained %s in %s s%s', trained_ref,
				round(coalesce((v.metrics ->> 'training_seconds')::numeric, 0), 3),
				coalesce('; promotion: ' || (decision ->> 'decision') || ' (' || (decision ->> 'reason') || ')', '')),
						  jsonb_build_object('ref', trained_ref, 'promotion', decision));
END;
$$;
COMMENT ON FUNCTION mf._job_succeeded(bigint, text) IS
	'job worker: record success in the training transaction: result, per-epoch log, the retrain promotion decision';

-- Worker: the job failed or was cancelled (after the training transaction rolled back);
-- interrupted by a shutdown, it goes back to the queue without using up an attempt.
CREATE FUNCTION mf._job_failed(job_id bigint, reason text, message text, sqlstate text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
BEGIN
	IF reason = 'shutdown' THEN
		UPDATE mf.jobs u SET status = 'queued', attempts = u.attempts - 1, worker_pid = NULL, phase = NULL,
			   progress = 0, started_at = NULL
		 WHERE u.job_id = _job_failed.job_id AND u.status = 'running'
		RETURNING u.* INTO j;
		IF FOUND THEN
			UPDATE mf.model_versions mv SET status = 'created' WHERE mv.version_id = j.version_id AND mv.status = 'training';
			PERFORM mf._job_event(j.job_id, 'warning', 'interrupted by a server shutdown; re-queued');
		END IF;
		RETURN;
	END IF;
	UPDATE mf.jobs u
	   SET status = CASE WHEN reason = 'cancelled' THEN 'cancelled' ELSE 'failed' END,
		   finished_at = clock_timestamp(), error = message,
		   result = jsonb_build_object('reason', reason, 'sqlstate', sqlstate)
	 WHERE u.job_id = _job_failed.job_id AND u.status = 'running'
	RETURNING u.* INTO j;
	IF FOUND THEN
		PERFORM mf._fail_version(j.version_id, reason, message, j.job_id);
		PERFORM mf._job_event(j.job_id, 'error', format('%s: %s', reason, message),
							  jsonb_build_object('reason', reason, 'sqlstate', sqlstate));
	END IF;
END;
$$;
COMMENT ON FUNCTION mf._job_failed(bigint, text, text, text) IS
	'job worker: mark the job failed (or cancelled) and its version failed with the reason (cancelled, timeout, error); re-queue it after a shutdown';

REVOKE EXECUTE ON FUNCTION mf._claim_job(integer), mf._unclaim_job(bigint), mf._recover_jobs(bigint[]),
	mf._job_progress(bigint, text, float8, bigint, bigint, float8, timestamptz, boolean),
	mf._job_begin(bigint, integer, integer), mf._job_succeeded(bigint, text), mf._job_failed(bigint, text, text, text)
	FROM PUBLIC;

-- A job row or 42704.
CREATE FUNCTION mf._job(job_id bigint) RETURNS mf.jobs
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
BEGIN
	SELECT * INTO j FROM mf.jobs u WHERE u.job_id = _job.job_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'job % does not exist', job_id
			USING ERRCODE = 'undefined_object', HINT = 'SELECT job_id, status FROM mf.jobs lists the jobs.';
	END IF;
	RETURN j;
END;
$$;
COMMENT ON FUNCTION mf._job(bigint) IS 'a job row; 42704 when unknown';

-- May the acting role act on a job (it queued it, owns its model, or holds mf_admin)?
CREATE FUNCTION mf._owns_job(j mf.jobs) RETURNS boolean
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, mf, pg_temp AS $$
	SELECT mf._acts_as('mf_admin') OR mf._acts_as(j.queued_by)
		   OR coalesce(mf._owns((SELECT v.model_id FROM mf.model_versions v WHERE v.version_id = j.version_id)), false);
$$;
COMMENT ON FUNCTION mf._owns_job(mf.jobs) IS 'may the acting role act on a job: it queued it (membership counts), owns its model, or holds mf_admin';

CREATE FUNCTION mf._wait(job_id bigint, timeout interval DEFAULT '1 hour') RETURNS mf.jobs
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
	deadline timestamptz := clock_timestamp() + coalesce(timeout, '1 hour');
	shown	text := '';
	line	text;
BEGIN
	IF job_id IS NULL THEN
		RAISE EXCEPTION 'job_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF current_setting('transaction_isolation') <> 'read committed' THEN
		RAISE EXCEPTION 'mf_wait() needs the READ COMMITTED isolation level'
			USING ERRCODE = 'invalid_transaction_state',
				  DETAIL = format('This transaction is %s: its snapshot never sees the job end.', upper(current_setting('transaction_isolation'))),
				  HINT = 'Call mf_wait() in its own transaction.';
	END IF;
	PERFORM mf._require_role('mf_reader', 'wait for jobs');
	j := mf._job(job_id);
	IF j.status = 'queued' AND EXISTS (SELECT 1 FROM mf.jobs u WHERE u.job_id = _wait.job_id
										  AND u.xmin::text::bigint = pg_current_xact_id_if_assigned()::text::bigint % 4294967296) THEN
		RAISE EXCEPTION 'job % was queued in this transaction', job_id
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Commit first: a job starts only once the transaction that queued it has committed.';
	END IF;
	LOOP
		j := mf._job(job_id);
		line := CASE WHEN j.status = 'running'
					 THEN format('job %s running: %s, %s%% done%s', j.job_id, j.phase, round((j.progress * 100)::numeric),
								 CASE WHEN j.epoch IS NOT NULL
									  THEN format(' (epoch %s of %s, loss %s)', j.epoch, j.total_epochs, round(j.loss::numeric, 4))
									  ELSE '' END)
					 ELSE format('job %s %s%s', j.job_id, j.status, coalesce(': ' || coalesce(j.result ->> 'ref', j.error), '')) END;
		IF line <> shown THEN
			RAISE NOTICE '%', line;
			shown := line;
		END IF;
		EXIT WHEN j.status IN ('succeeded', 'failed', 'cancelled') OR clock_timestamp() >= deadline;
		PERFORM pg_sleep(least(0.1, extract(epoch FROM deadline - clock_timestamp())));
	END LOOP;
	IF NOT mf._owns_job(j) THEN
		j.source := NULL;
		j.search_path := NULL;
	END IF;
	RETURN j;
END;
$$;
CREATE FUNCTION mf_wait(job_id bigint, timeout interval DEFAULT '1 hour') RETURNS mf.jobs
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_wait(bigint, interval) IS
	'wait (interruptibly) until a job ends or the timeout passes, with a NOTICE per progress step; returns the job row';

CREATE FUNCTION mf._cancel_job(job_id bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, mf, pg_temp AS $$
DECLARE
	j		mf.jobs;
BEGIN
	j := mf._job(job_id);
	IF NOT mf._owns_job(j) THEN
		RAISE EXCEPTION 'permission denied to cancel job %', job_id
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = format('Job %s was queued by role "%s"; role "%s" is neither a member of it, nor an owner of the model, nor of mf_admin.',
								  job_id, j.queued_by, mf._actor());
	END IF;
	UPDATE mf.jobs u SET status = 'cancelled', finished_at = clock_timestamp(), error = 'cancelled by mf_cancel_job()'
	 WHERE u.job_id = _cancel_job.job_id AND u.status = 'queued'
	RETURNING u.* INTO j;
	IF FOUND THEN
		PERFORM mf._fail_version(j.version_id, 'cancelled', 'cancelled by mf_cancel_job() before it started', j.job_id);
		PERFORM mf._deploy_job_lost(j.job_id);
		PERFORM mf._job_event(j.job_id, 'error', format('cancelled by %s before it started', mf._actor()));
		RETURN true;
	END IF;
	UPDATE mf.jobs u SET cancel_requested = true
	 WHERE u.job_id = _cancel_job.job_id AND u.status = 'running'
	RETURNING u.* INTO j;
	IF FOUND THEN
		PERFORM mf._job_event(j.job_id, 'warning', format('cancel requested by %s', mf._actor()));
		PERFORM mf._signal_job(j.job_id);
		RETURN true;
	END IF;
	RETURN false;
END;
$$;
CREATE FUNCTION mf_cancel_job(job_id bigint) RETURNS boolean
	AS 'MODULE_PATHNAME', 'mf_gate'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION mf_cancel_job(bigint) IS
	'cancel a queued job, or stop a running one (within a second or two; its version is marked failed with reason cancelled); false when it had already ended';

CREATE FUNCTION mf_job_log(job_id bigint) RETURNS SETOF mf.job_events
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, mf, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM mf.jobs u WHERE u.job_id = mf_job_log.job_id) THEN
		RAISE EXCEPTION 'job % does not exist', job_id
			USING ERRCODE = 'undefined_object', HINT = 'SELECT job_id, status FROM mf.jobs lists the jobs.';
	END IF;
	RETURN QUERY SELECT * FROM mf.job_events e WHERE e.job_id = mf_job_log.job_id ORDER BY e.event_id;
END;
$$;
COMMENT ON FUNCTION mf_job_log(bigint) IS 'the log lines of a job, oldest first';
