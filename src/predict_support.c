/*
 * predict_support.c - the planner support function of the per-row
 * prediction functions (prosupport, SupportRequestSimplify).
 *
 * Design note
 * -----------
 * Building ARRAY[x1, ..., xp] for every row costs more than scoring a linear
 * model, and a whole-row reference copies the row into a new tuple that is
 * taken apart again.  At plan time this function rewrites
 *
 *   mf_predict(ref, ARRAY[e1, ..., ep])  ->  mf._predict_args(ref, e1, ..., ep)
 *   mf_predict(ref, t)                   ->  mf._predict_cols(ref, '{a,b,...}', t.a, t.b, ...)
 *
 * (and the same for mf_predict_label and mf_predict_proba), whose C
 * functions (predict.c) read the values straight from fcinfo.  Nothing of
 * the model is looked at here: the rewritten call still resolves its
 * reference once per query through fn_extra, with the query's snapshot,
 * and raises the same errors, so prepared statements and cached plans see
 * a new production version exactly as the unrewritten call does and no
 * plan needs to depend on the model tables.
 *
 * The row rewrite is made only for a whole-row Var of a plain relation at
 * the same query level when that level has no JOIN ... ON/USING (so the row
 * cannot be NULL-extended by an outer join: a NULL row must stay NULL, not
 * become a row of NULLs that would be imputed), and for a ROW(...)
 * expression with column names (what a whole-row reference of a pulled-up
 * subquery becomes; the planner wraps it in a PlaceHolderVar when an outer
 * join can null it).  SET mf.predict_simplify = off keeps the calls as
 * written (a differential test compares both).
 */
#include "postgres.h"

#include "mf_core.h"

#include "access/tupdesc.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "nodes/supportnodes.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

/* The OID of mf.<name>(text, <second>, VARIADIC "any"), or InvalidOid. */
static Oid
MfSupportTarget(const char *name, Oid second)
{
	Oid			argtypes[3] = {TEXTOID, second, ANYOID};
	int			nargs = OidIsValid(second) ? 3 : 2;

	if (!OidIsValid(second))
		argtypes[1] = ANYOID;
	return LookupFuncName(list_make2(makeString("mf"), makeString(pstrdup(name))),
						  nargs, argtypes, true);
}

/* The internal function replacing fcall's function, or InvalidOid. */
static Oid
MfSupportReplacement(Oid funcid, bool cols)
{
	char	   *name = get_func_name(funcid);
	char	   *target;

	if (name == NULL)
		return InvalidOid;
	if (strcmp(name, "mf_predict") == 0)
		target = cols ? "_predict_cols" : "_predict_args";
	else if (strcmp(name, "mf_predict_label") == 0)
		target = cols ? "_predict_label_cols" : "_predict_label_args";
	else if (strcmp(name, "mf_predict_proba") == 0)
		target = cols ? "_predict_proba_cols" : "_predict_proba_args";
	else
		return InvalidOid;
	return MfSupportTarget(target, cols ? TEXTARRAYOID : InvalidOid);
}

/* A call of the replacement with ref, optionally names, and args. */
static Node *
MfSupportCall(FuncExpr *fcall, Oid target, Node *names, List *args)
{
	List	   *all = list_make1(linitial(fcall->args));
	FuncExpr   *f;

	if (names != NULL)
		all = lappend(all, names);
	all = list_concat(all, args);
	f = makeFuncExpr(target, fcall->funcresulttype, all, fcall->funccollid,
					 fcall->inputcollid, COERCE_EXPLICIT_CALL);
	f->location = fcall->location;
	return (Node *) f;
}

/* mf_predict(ref, ARRAY[...]) as mf._predict_args(ref, ...), or NULL. */
static Node *
MfSupportArray(FuncExpr *fcall, ArrayExpr *a)
{
	int			n = list_length(a->elements);
	Oid			target;

	if (a->multidims || a->element_typeid != FLOAT8OID || n == 0 || n > FUNC_MAX_ARGS - 1)
		return NULL;
	target = MfSupportReplacement(fcall->funcid, false);
	if (!OidIsValid(target))
		return NULL;
	return MfSupportCall(fcall, target, NULL, list_copy(a->elements));
}

/* A text[] constant of column names. */
static Node *
MfSupportNames(List *names)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(list_length(names), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, names)
		d[n++] = CStringGetTextDatum((char *) lfirst(lc));
	return (Node *) makeConst(TEXTARRAYOID, -1, InvalidOid, -1,
							  PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT)),
							  false, false);
}

/* The call with the columns of a whole-row Var of a table, or NULL. */
static Node *
MfSupportWholeRow(FuncExpr *fcall, Var *var, PlannerInfo *root)
{
	RangeTblEntry *rte;
	TupleDesc	td;
	List	   *names = NIL;
	List	   *vars = NIL;
	Oid			target;

	if (root == NULL || root->parse == NULL || root->hasJoinRTEs ||
		var->varattno != InvalidAttrNumber || var->varlevelsup != 0 ||
		var->varno < 1 || var->varno > list_length(root->parse->rtable))
		return NULL;
	rte = rt_fetch(var->varno, root->parse->rtable);
	if (rte->rtekind != RTE_RELATION || get_typ_typrelid(var->vartype) != rte->relid)
		return NULL;
	td = lookup_rowtype_tupdesc(var->vartype, var->vartypmod);
	for (int a = 0; a < td->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(td, a);

		if (att->attisdropped)
			continue;
		names = lappend(names, pstrdup(NameStr(att->attname)));
		vars = lappend(vars, makeVar(var->varno, att->attnum, att->atttypid, att->atttypmod,
									 att->attcollation, 0));
	}
	ReleaseTupleDesc(td);
	if (list_length(vars) == 0 || list_length(vars) > FUNC_MAX_ARGS - 2)
		return NULL;
	target = MfSupportReplacement(fcall->funcid, true);
	if (!OidIsValid(target))
		return NULL;
	return MfSupportCall(fcall, target, MfSupportNames(names), vars);
}

/* The call with the fields of a ROW(...) with column names, or NULL. */
static Node *
MfSupportRowExpr(FuncExpr *fcall, RowExpr *row)
{
	List	   *names = NIL;
	ListCell   *lc;
	Oid			target;

	if (row->row_typeid != RECORDOID || row->colnames == NIL ||
		list_length(row->colnames) != list_length(row->args) ||
		list_length(row->args) == 0 || list_length(row->args) > FUNC_MAX_ARGS - 2)
		return NULL;
	foreach(lc, row->colnames)
		names = lappend(names, strVal(lfirst(lc)));
	target = MfSupportReplacement(fcall->funcid, true);
	if (!OidIsValid(target))
		return NULL;
	return MfSupportCall(fcall, target, MfSupportNames(names), list_copy(row->args));
}

PG_FUNCTION_INFO_V1(mf_predict_support);

/* mf._predict_support(internal): SupportRequestSimplify for mf_predict*. */
Datum
mf_predict_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestSimplify *req;
	FuncExpr   *fcall;
	Node	   *arg;
	Node	   *res = NULL;

	if (!IsA(rawreq, SupportRequestSimplify) || !MfGucs->predict_simplify)
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestSimplify *) rawreq;
	fcall = req->fcall;
	if (list_length(fcall->args) != 2 || fcall->funcvariadic)
		PG_RETURN_POINTER(NULL);
	arg = lsecond(fcall->args);
	if (IsA(arg, ArrayExpr))
		res = MfSupportArray(fcall, (ArrayExpr *) arg);
	else if (IsA(arg, Var))
		res = MfSupportWholeRow(fcall, (Var *) arg, req->root);
	else if (IsA(arg, RowExpr))
		res = MfSupportRowExpr(fcall, (RowExpr *) arg);
	PG_RETURN_POINTER(res);
}
