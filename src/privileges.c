/*
 * privileges.c - who acts, and with which rights, inside mf_ext.
 *
 * Design note
 * -----------
 * The catalog tables are written only by the extension's owner.  Every
 * user-facing function that writes (mf_create_model, mf_train, ...) is a
 * "gate": a small C function, callable by everyone, that records the role
 * calling it (GetUserId() at the call: current_user, also inside a
 * SECURITY DEFINER function of the user's) and that role's search_path on a
 * backend-local stack, then calls its body mf._<name> (same arguments), a
 * SECURITY DEFINER function that nobody else may execute.  The body reads
 * the caller from mf._caller() and checks the privilege it needs
 * (mf._require_*); identity therefore comes from the session, never from a
 * value a user can write.  Bodies call other bodies, never gates, so the
 * caller stays the caller.  Outside any gate, mf._caller() is the current
 * user: only the owner, superusers and the job processes call bodies so.
 *
 * User SQL - a training source - runs with exactly its author's rights:
 * MfRunAsBegin() switches to the author for the whole parse, plan and run
 * of the source, as a security-restricted operation (no SET ROLE, no
 * temporary objects, no deferred triggers that could fire later under
 * another role), with the author's search_path, and MfRunAsEnd() undoes
 * every setting the source changed before the privileged code goes on.
 * Prediction reads the catalog as the extension's owner (MfAsOwnerBegin)
 * after checking that the caller holds mf_reader.
 */
#include "postgres.h"

#include "mf_core.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "privileges.h"

#define MF_CALLER_DEPTH 32
#define MF_FIXED_PATH "pg_catalog, mf, pg_temp"

/* One gated call: who called, with which search_path. */
typedef struct MfCaller
{
	Oid			role;
	char	   *search_path;
} MfCallerEntry;

static MfCallerEntry callers[MF_CALLER_DEPTH];
static int	ncallers = 0;

/* Push the acting role (and its search_path) for the calls below. */
void
MfCallerPush(Oid role, const char *search_path)
{
	if (ncallers >= MF_CALLER_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("mf_ext functions are nested too deeply"),
				 errdetail("At most %d nested calls of mf_ext functions are allowed.", MF_CALLER_DEPTH)));
	callers[ncallers].role = role;
	callers[ncallers].search_path = MemoryContextStrdup(TopMemoryContext,
														search_path ? search_path : "");
	ncallers++;
}

/* Pop what MfCallerPush pushed. */
void
MfCallerPop(void)
{
	Assert(ncallers > 0);
	if (ncallers == 0)
		return;
	ncallers--;
	pfree(callers[ncallers].search_path);
}

/* The acting role: the innermost gate's caller, else the current user. */
Oid
MfCaller(void)
{
	return ncallers > 0 ? callers[ncallers - 1].role : GetUserId();
}

/* The acting role's search_path, as it was when it called the gate. */
const char *
MfCallerSearchPath(void)
{
	return ncallers > 0 ? callers[ncallers - 1].search_path : namespace_search_path;
}

/* The body of a gate: mf._<name without "mf_"> with the same argument types. */
static void
MfGateTarget(Oid gate, FmgrInfo *target, MemoryContext cxt)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(gate));
	Form_pg_proc proc;
	const char *name;
	Oid			body;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", gate);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	name = pstrdup(NameStr(proc->proname));
	if (strncmp(name, "mf_", 3) != 0)
		elog(ERROR, "mf_gate is bound to \"%s\", which is not an mf_* function", name);
	body = LookupFuncName(list_make2(makeString("mf"), makeString(psprintf("_%s", name + 3))),
						  proc->pronargs, proc->proargtypes.values, false);
	ReleaseSysCache(tup);
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(body));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", body);
	if (!((Form_pg_proc) GETSTRUCT(tup))->prosecdef)
		elog(ERROR, "the body of gate \"%s\" is not SECURITY DEFINER", name);
	ReleaseSysCache(tup);
	fmgr_info_cxt(body, target, cxt);
}

/*
 * Record the caller, run mf._<name>.  With hide_statement, an error leaves
 * out the statement (errhidestmt) and its context, which may quote the
 * caller's SQL (an EXECUTE of a PL/pgSQL function): the arguments of
 * mf_deploy may hold a bearer token, which log_min_error_statement would
 * otherwise write to the server log with the statement's text.  The
 * message, detail and hint are the body's own and never quote a secret.
 */
static Datum
MfGateCall(FunctionCallInfo fcinfo, bool hide_statement)
{
	FmgrInfo   *target = (FmgrInfo *) fcinfo->flinfo->fn_extra;
	LOCAL_FCINFO(inner, FUNC_MAX_ARGS);
	MemoryContext cxt = CurrentMemoryContext;
	Datum		result = (Datum) 0;

	if (target == NULL)
	{
		target = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(FmgrInfo));
		MfGateTarget(fcinfo->flinfo->fn_oid, target, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = target;
	}
	/* the caller's ReturnSetInfo: a set-returning body materialises into it */
	InitFunctionCallInfoData(*inner, target, PG_NARGS(), PG_GET_COLLATION(), NULL, fcinfo->resultinfo);
	for (int i = 0; i < PG_NARGS(); i++)
		inner->args[i] = fcinfo->args[i];
	MfCallerPush(GetUserId(), namespace_search_path);
	PG_TRY();
	{
		result = FunctionCallInvoke(inner);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MfCallerPop();
		if (!hide_statement)
			PG_RE_THROW();
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		/* the context may quote a caller's statement: drop it too */
		edata->hide_stmt = true;
		edata->hide_ctx = true;
		edata->context = NULL;
		edata->internalquery = NULL;
		edata->internalpos = 0;
		ReThrowError(edata);
	}
	PG_END_TRY();
	MfCallerPop();
	fcinfo->isnull = inner->isnull;
	return result;
}

PG_FUNCTION_INFO_V1(mf_gate);

/* Every writing mf_* function: record the caller, then run mf._<name>. */
Datum
mf_gate(PG_FUNCTION_ARGS)
{
	return MfGateCall(fcinfo, false);
}

PG_FUNCTION_INFO_V1(mf_gate_secret);

/* A gate whose arguments may hold a secret: errors never log the statement. */
Datum
mf_gate_secret(PG_FUNCTION_ARGS)
{
	return MfGateCall(fcinfo, true);
}

PG_FUNCTION_INFO_V1(mf_caller);

/* mf._caller(): the acting role (see the design note). */
Datum
mf_caller(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(MfCaller());
}

PG_FUNCTION_INFO_V1(mf_caller_search_path);

/* mf._caller_search_path(): the acting role's search_path. */
Datum
mf_caller_search_path(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(MfCallerSearchPath()));
}

/* Switch to role for user SQL: restricted, with its search_path. */
void
MfRunAsBegin(MfRunAs *save, Oid role, const char *search_path)
{
	if (!OidIsValid(role))
		elog(ERROR, "user SQL without an author role");
	GetUserIdAndSecContext(&save->user, &save->sec);
	SetUserIdAndSecContext(role, save->sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	save->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", search_path ? search_path : "", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* Back from user SQL: every setting it changed undone, the caller's rights back. */
void
MfRunAsEnd(MfRunAs *save)
{
	AtEOXact_GUC(false, save->guc_level);
	SetUserIdAndSecContext(save->user, save->sec);
}

/* OID of the role that owns extension mf_ext. */
static Oid
MfExtensionOwner(void)
{
	static Oid	owner = InvalidOid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	if (OidIsValid(owner))
		return owner;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("mf_ext"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"mf_ext\" is not installed in this database"),
				 errhint("CREATE EXTENSION mf_ext;")));
	return owner;
}

/* Read the catalog as the extension's owner, with a fixed search_path. */
void
MfAsOwnerBegin(MfRunAs *save)
{
	GetUserIdAndSecContext(&save->user, &save->sec);
	SetUserIdAndSecContext(MfExtensionOwner(), save->sec | SECURITY_LOCAL_USERID_CHANGE);
	save->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", MF_FIXED_PATH, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* Raise 42501 unless the current user holds role mf_reader (prediction). */
void
MfRequireReader(const char *what)
{
	Oid			reader;

	if (superuser())
		return;
	reader = get_role_oid("mf_reader", true);
	if (!OidIsValid(reader) || !has_privs_of_role(GetUserId(), reader))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", what),
				 errdetail("Role \"%s\" does not hold mf_reader.", GetUserNameFromId(GetUserId(), false)),
				 errhint("A DBA runs GRANT mf_reader TO %s;", GetUserNameFromId(GetUserId(), false))));
}
