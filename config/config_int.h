/*
 * config_int.h - private helpers shared by the config library files.
 *
 * A "view" is a flat set of keys, each with its value and the JSON path
 * where the key sat in the INPUT (so "$.model.encoder.d_model" for the YAML
 * form).  Validators read typed values out of a view and report problems to
 * an MfCtx; the problems are sorted and de-duplicated at the end.
 */
#ifndef MF_CONFIG_INT_H
#define MF_CONFIG_INT_H

#include <stdbool.h>
#include <stdint.h>
#include "mf_config.h"

#define MF_PATH_LEN 256			/* longest path kept (longer ones truncated) */
#define MF_MSG_LEN 768			/* longest problem text */

/* Flags for the typed getters. */
#define MF_REQUIRED	0x1			/* missing key is a problem */
#define MF_NULLABLE	0x2			/* JSON null is accepted (-1 / no value) */
#define MF_FOLD_CASE 0x4		/* enum choices compare case-insensitively */

/* Ranges for real-valued keys. */
typedef enum MfRange
{
	MF_RANGE_ANY = 0,			/* any finite number */
	MF_RANGE_POSITIVE,			/* > 0 */
	MF_RANGE_NONNEG,			/* >= 0 */
	MF_RANGE_UNIT_CO,			/* [0, 1) */
	MF_RANGE_UNIT_OO			/* (0, 1) */
} MfRange;

/* What a getter found. */
typedef enum MfGot
{
	MF_GOT_DEFAULT = 0,			/* key absent: default used */
	MF_GOT_VALUE,				/* valid value */
	MF_GOT_NULL,				/* JSON null (only with MF_NULLABLE) */
	MF_GOT_BAD					/* problem reported; default used */
} MfGot;

/* Problem sink. */
typedef struct MfCtx
{
	json_t	   *problems;		/* array of {"path", "problem"} */
	bool		oom;			/* an allocation failed somewhere */
} MfCtx;

/* A flat view: key -> value and key -> path of that key in the input. */
typedef struct MfView
{
	json_t	   *vals;			/* object; may be NULL after OOM */
	json_t	   *paths;			/* object of strings */
	char		base[MF_PATH_LEN];	/* where missing keys are reported */
} MfView;

/* json_util.c */
extern int	MfEditDistance(const char *a, const char *b);
extern int	MfFormatReal(double v, char *buf, size_t len);
extern json_t *MfJsonCopy(const json_t *value, int depth);
extern bool MfJsonTooDeep(const json_t *value, int depth);
extern char *MfStrdup(const char *s);
extern void MfFree(void *p);

/* config_fields.c: problems and paths */
extern void MfCtxInit(MfCtx *ctx);
extern void MfProblem(MfCtx *ctx, const char *path, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
extern void MfPathKey(char *out, const char *base, const char *key);
extern void MfPathIndex(char *out, const char *base, size_t index);
extern void MfQuote(char *out, size_t len, const char *s);
extern const char *MfTypeName(const json_t *v);
extern void MfFinishProblems(MfCtx *ctx, json_t *problems);
extern void MfPut(MfCtx *ctx, json_t *obj, const char *key, json_t *val);
extern void MfPutInt(MfCtx *ctx, json_t *obj, const char *key, int64_t v);
extern void MfPutNullableInt(MfCtx *ctx, json_t *obj, const char *key, int64_t v);

/* config_fields.c: views */
extern void MfViewInit(MfView *v, const char *base);
extern void MfViewFree(MfView *v);
extern void MfViewSet(MfCtx *ctx, MfView *v, const char *key, json_t *value, const char *path);
extern void MfViewAddObject(MfCtx *ctx, MfView *v, const json_t *obj, const char *base);
extern void MfViewSetMissingPath(MfCtx *ctx, MfView *v, const char *key, const char *path);
extern json_t *MfViewGet(const MfView *v, const char *key);
extern void MfViewPath(const MfView *v, const char *key, char *out);
extern void MfViewCopy(MfCtx *ctx, MfView *dst, const MfView *src);
extern void MfViewSetNew(MfCtx *ctx, MfView *v, const char *key, json_t *value,
						 const char *path);
extern void MfViewFromObject(MfCtx *ctx, MfView *v, const json_t *obj, const char *base);

/* config_fields.c: typed getters */
extern void MfCheckKeys(MfCtx *ctx, const MfView *v, const char *const *allowed,
						const char *const *also);
extern void MfCheckObjectKeys(MfCtx *ctx, const json_t *obj, const char *base,
							  const char *const *allowed);
extern bool MfIsPretrainedKey(const char *key);
extern bool MfInList(const char *key, const char *const *list);
extern MfGot MfGetInt(MfCtx *ctx, const MfView *v, const char *key, int64_t def,
					  int64_t min, int64_t max, int flags, int64_t *out);
extern MfGot MfCheckIntValue(MfCtx *ctx, const json_t *val, const char *path,
							 const char *label, int64_t min, int64_t max, int64_t *out);
extern MfGot MfGetNum(MfCtx *ctx, const MfView *v, const char *key, double def,
					  MfRange range, int flags, double *out);
extern MfGot MfGetBool(MfCtx *ctx, const MfView *v, const char *key, bool def,
					   int flags, bool *out);
extern MfGot MfGetEnum(MfCtx *ctx, const MfView *v, const char *key,
					   const char *const *choices, int def, int flags, int *out);
extern MfGot MfGetString(MfCtx *ctx, const MfView *v, const char *key, int flags,
						 const char **out);

extern MfGot MfGetNumClasses(MfCtx *ctx, const MfView *v, int64_t def, int flags,
							 int64_t *out);
typedef void (*MfParseFn) (MfCtx *ctx, const MfView *v, void *out);
extern bool MfParseNormalized(const json_t *normalized, MfFamily family,
							  MfParseFn fn, void *out);
extern int64_t MfMulAdd(int64_t a, int64_t b, int64_t c);

/* config_training.c */
extern json_t *MfTrainingNormalize(MfCtx *ctx, const MfView *v);
extern json_t *MfDataNormalize(MfCtx *ctx, const MfView *v);
extern void MfTrainingParse(MfCtx *ctx, const MfView *v, MfTrainingConfig *c);

/* config_families.c */
extern const char *const MfCommonKeys[];
extern void MfLinearNormalize(MfCtx *ctx, const MfView *v, json_t *out);
extern void MfLogisticNormalize(MfCtx *ctx, const MfView *v, json_t *out);
extern void MfMlpNormalize(MfCtx *ctx, const MfView *v, json_t *out);
extern void MfKmeansNormalize(MfCtx *ctx, const MfView *v, json_t *out);
extern int64_t MfTabularParameters(const json_t *normalized, MfFamily family);

/* config_transformer.c */
extern const char *const *const MfStackKeys;	/* keys of one stack, NULL-ended */
extern void MfTransformerNormalize(MfCtx *ctx, const MfView *v, json_t *out);
extern int64_t MfTransformerParameters(const MfTransformerConfig *c);


#endif							/* MF_CONFIG_INT_H */
