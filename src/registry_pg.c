/*
 * registry_pg.c - OCI registries from inside PostgreSQL: the stored
 * registry and its credentials handed to the pure-C client
 * (image/registry.h), its outcome turned into an ERROR with an SQLSTATE.
 *
 * Design note
 * -----------
 * The registry row and its secrets are read in one SPI query as the
 * extension's owner (only it reads mf.registry_secrets), copied into the
 * client (malloc'd, wiped at close) and wiped from palloc'd memory at once.
 * Between mf_registry_open() and mf_registry_close() nothing may raise: the
 * client holds malloc'd memory and libcurl state, and libcurl frames must
 * never be longjmp'd through.  Cancel therefore goes through the client's
 * cancelled() callback, which only reads QueryCancelPending and
 * ProcDiePending (and the caller's own flag); once the client returned
 * MF_REGISTRY_CANCELLED, CHECK_FOR_INTERRUPTS() raises the pending
 * interrupt.  The client's messages are already scrubbed of the secrets;
 * they go into errdetail, never errmsg, so the message stays stable.
 */
#include "postgres.h"

#include "mf_core.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "privileges.h"
#include "registry_pg.h"

/* A registry row with its secrets. */
typedef struct MfRegistryRow
{
	char	   *name;
	char	   *url;
	char	   *auth;
	bool		insecure;
	char	   *username;
	char	   *password;
	char	   *refresh_token;
} MfRegistryRow;

/* What the client's cancel callback looks at. */
typedef struct MfRegistryCancel
{
	const MfRegistryHooks *hooks;
} MfRegistryCancel;

/* The client's cancel callback: a pending interrupt or the caller's flag (never raises). */
static bool
MfRegistryCancelled(void *arg)
{
	MfRegistryCancel *c = arg;

	if (QueryCancelPending || ProcDiePending)
		return true;
	return c->hooks && c->hooks->cancelled && c->hooks->cancelled(c->hooks->arg);
}

/* A column of the one SPI result row, copied into cxt (NULL stays NULL). */
static char *
MfRegistryColumn(int n, MemoryContext cxt)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n);

	return v ? MemoryContextStrdup(cxt, v) : NULL;
}

/* Read a registry and its secrets as the extension's owner; 42704 when unknown. */
static void
MfRegistryLoad(const char *name, MfRegistryRow *row)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	MfRunAs		owner;
	int			rc;
	bool		found;

	memset(row, 0, sizeof(*row));
	MfAsOwnerBegin(&owner);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args("SELECT r.name, r.url, r.auth, r.insecure, s.username, s.password, s.refresh_token "
							   "  FROM mf.registries r LEFT JOIN mf.registry_secrets s ON s.registry = r.name "
							   " WHERE r.name = $1", 1, argtypes, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading mf.registries failed: %s", SPI_result_code_string(rc));
	found = SPI_processed == 1;
	if (found)
	{
		char	   *insecure = MfRegistryColumn(4, cxt);

		row->name = MfRegistryColumn(1, cxt);
		row->url = MfRegistryColumn(2, cxt);
		row->auth = MfRegistryColumn(3, cxt);
		row->insecure = insecure && insecure[0] == 't';
		row->username = MfRegistryColumn(5, cxt);
		row->password = MfRegistryColumn(6, cxt);
		row->refresh_token = MfRegistryColumn(7, cxt);
	}
	SPI_finish();
	MfAsOwnerEnd(&owner);
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("registry \"%s\" does not exist", name),
				 errhint("SELECT name, url FROM mf.registries lists the registries; mf_create_registry() adds one.")));
}

/* Overwrite and free a palloc'd secret. */
static void
MfRegistryWipe(char *s)
{
	if (s)
	{
		volatile char *p = s;

		while (*p)
			*p++ = '\0';
		pfree(s);
	}
}

/* Open a client for a registry row (secrets wiped from the row); raises on a bad row. */
static MfRegistry *
MfRegistryOpenRow(MfRegistryRow *row, MfRegistryCancel *cancel, const MfRegistryHooks *hooks)
{
	MfRegistryConfig cfg = {0};
	MfRegistryError err;
	MfRegistry *reg;

	cfg.url = row->url;
	cfg.insecure = row->insecure;
	cfg.username = row->username;
	cfg.password = row->password;
	cfg.refresh_token = row->refresh_token;
	/* "bearer" and "acr" credentials are for the token server only */
	cfg.bearer_only = strcmp(row->auth, "bearer") == 0 || strcmp(row->auth, "acr") == 0;
	cfg.cancelled = MfRegistryCancelled;
	cfg.cancel_arg = cancel;
	if (hooks)
	{
		cfg.progress = hooks->progress;
		cfg.progress_arg = hooks->arg;
	}
	reg = mf_registry_open(&cfg, &err);
	MfRegistryWipe(row->username);
	MfRegistryWipe(row->password);
	MfRegistryWipe(row->refresh_token);
	row->username = row->password = row->refresh_token = NULL;
	if (reg == NULL)
		ereport(ERROR,
				(errcode(err.status == MF_REGISTRY_BAD_ARG ? ERRCODE_INVALID_PARAMETER_VALUE : ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not open registry \"%s\"", row->name),
				 errdetail("%s.", err.message),
				 errhint("SELECT url, insecure FROM mf.registries WHERE name = '%s' shows its URL.", row->name)));
	return reg;
}

/* The SQLSTATE of a client outcome. */
static int
MfRegistrySqlstate(MfRegistryStatus s)
{
	switch (s)
	{
		case MF_REGISTRY_BAD_ARG:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case MF_REGISTRY_BAD_LAYOUT:
			return ERRCODE_DATA_EXCEPTION;
		case MF_REGISTRY_TOO_LARGE:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case MF_REGISTRY_AUTH:
			return ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
		case MF_REGISTRY_NOT_FOUND:
			return ERRCODE_UNDEFINED_OBJECT;
		case MF_REGISTRY_UNAVAILABLE:
			return ERRCODE_CONNECTION_FAILURE;
		case MF_REGISTRY_CANCELLED:
			return ERRCODE_QUERY_CANCELED;
		case MF_REGISTRY_NOMEM:
			return ERRCODE_SYSTEM_ERROR;
		case MF_REGISTRY_HTTP:
		case MF_REGISTRY_PROTOCOL:
		case MF_REGISTRY_OK:
			break;
	}
	return ERRCODE_PROTOCOL_VIOLATION;
}

/* What the user can do about a client outcome. */
static const char *
MfRegistryHint(MfRegistryStatus s)
{
	switch (s)
	{
		case MF_REGISTRY_AUTH:
			return "Check the registry's credentials: mf_drop_registry() and mf_create_registry() with new options "
				"(README, \"Registries\").";
		case MF_REGISTRY_UNAVAILABLE:
			return "The registry did not answer after several retries; run the deployment again (blobs already pushed "
				"are not sent twice, and no tag names a partial image).";
		case MF_REGISTRY_TOO_LARGE:
			return "mf_ext pushes blobs of at most 1 GiB.";
		case MF_REGISTRY_BAD_LAYOUT:
			return "The image layout directory must hold oci-layout, index.json and blobs/sha256/ "
				"(OCI image layout 1.0).";
		default:
			return "See the detail: it names the request, the HTTP status and the registry's error code.";
	}
}

/* Raise the error of a failed operation (after the client is closed). */
static void
MfRegistryRaise(const char *what, const char *registry, const MfRegistryError *err)
{
	if (err->status == MF_REGISTRY_CANCELLED)
	{
		CHECK_FOR_INTERRUPTS();
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("%s to registry \"%s\" was cancelled", what, registry)));
	}
	ereport(ERROR,
			(errcode(MfRegistrySqlstate(err->status)),
			 errmsg("could not %s to registry \"%s\"", what, registry),
			 errdetail("%s%s%s.", err->message, err->code[0] ? "; registry error code " : "", err->code),
			 errhint("%s", MfRegistryHint(err->status))));
}

/* "host[:port]/repository@digest" for a registry URL. */
char *
MfRegistryImageRef(const char *url, const char *repository, const char *digest)
{
	const char *host = strstr(url, "://");
	size_t		n;

	host = host ? host + 3 : url;
	n = strcspn(host, "/");
	return psprintf("%.*s/%s@%s", (int) n, host, repository, digest);
}

/* Push a layout (see registry_pg.h). */
char *
MfRegistryPush(const char *registry, const char *layout_dir, const char *repository, const char *tag,
			   const char *mount_from, const MfRegistryHooks *hooks)
{
	MfRegistryRow row;
	MfRegistryCancel cancel = {hooks};
	MfRegistryError err;
	MfRegistry *reg;
	char		digest[MF_REGISTRY_DIGEST_LEN];
	MfRegistryStatus s;

	MfRegistryLoad(registry, &row);
	reg = MfRegistryOpenRow(&row, &cancel, hooks);
	/* nothing below raises until the client is closed */
	s = mf_registry_push_layout(reg, layout_dir, repository, tag, mount_from, digest, &err);
	mf_registry_close(reg);
	if (s != MF_REGISTRY_OK)
		MfRegistryRaise("push image", registry, &err);
	return MfRegistryImageRef(row.url, repository, digest);
}

/* Copy an image by digest (see registry_pg.h). */
char *
MfRegistryCopy(const char *src_registry, const char *src_repository, const char *digest,
			   const char *dst_registry, const char *dst_repository, const char *dst_tag,
			   const MfRegistryHooks *hooks)
{
	MfRegistryRow src_row,
				dst_row;
	MfRegistryCancel cancel = {hooks};
	MfRegistryError err;
	MfRegistry *src,
			   *dst;
	MfRegistryStatus s;

	MfRegistryLoad(src_registry, &src_row);
	MfRegistryLoad(dst_registry, &dst_row);
	src = MfRegistryOpenRow(&src_row, &cancel, hooks);
	PG_TRY();
	{
		dst = MfRegistryOpenRow(&dst_row, &cancel, hooks);
	}
	PG_CATCH();
	{
		mf_registry_close(src);
		PG_RE_THROW();
	}
	PG_END_TRY();
	s = mf_registry_copy(src, src_repository, digest, dst, dst_repository, dst_tag, &err);
	mf_registry_close(src);
	mf_registry_close(dst);
	if (s != MF_REGISTRY_OK)
		MfRegistryRaise("copy image", dst_registry, &err);
	return MfRegistryImageRef(dst_row.url, dst_repository, digest);
}

/* A required text argument as a C string (22004 when NULL). */
static char *
MfRegistryArg(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

PG_FUNCTION_INFO_V1(mf_registry_url_problem_sql);

/* mf._registry_url_problem(url, insecure): the one URL rule, from the client. */
Datum
mf_registry_url_problem_sql(PG_FUNCTION_ARGS)
{
	const char *problem = mf_registry_url_problem(text_to_cstring(PG_GETARG_TEXT_PP(0)), PG_GETARG_BOOL(1));

	if (problem == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(problem));
}

PG_FUNCTION_INFO_V1(mf_registry_push_sql);

/* mf._registry_push(registry, layout_dir, repository, tag, mount_from): MfRegistryPush. */
Datum
mf_registry_push_sql(PG_FUNCTION_ARGS)
{
	char	   *ref = MfRegistryPush(MfRegistryArg(fcinfo, 0, "registry"), MfRegistryArg(fcinfo, 1, "layout_dir"),
									 MfRegistryArg(fcinfo, 2, "repository"), MfRegistryArg(fcinfo, 3, "tag"),
									 PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4)), NULL);

	PG_RETURN_TEXT_P(cstring_to_text(ref));
}

PG_FUNCTION_INFO_V1(mf_registry_copy_sql);

/* mf._registry_copy(src, src_repository, digest, dst, dst_repository, dst_tag): MfRegistryCopy. */
Datum
mf_registry_copy_sql(PG_FUNCTION_ARGS)
{
	char	   *ref = MfRegistryCopy(MfRegistryArg(fcinfo, 0, "src_registry"), MfRegistryArg(fcinfo, 1, "src_repository"),
									 MfRegistryArg(fcinfo, 2, "digest"), MfRegistryArg(fcinfo, 3, "dst_registry"),
									 MfRegistryArg(fcinfo, 4, "dst_repository"),
									 PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5)), NULL);

	PG_RETURN_TEXT_P(cstring_to_text(ref));
}
