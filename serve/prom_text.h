/*
 * prom_text.h - a reader of the Prometheus text format 0.0.4 (prom_text.c),
 * for the monitor worker's scrapes of remote servers' /metrics.  Pure C.
 */
#ifndef MF_PROM_TEXT_H
#define MF_PROM_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* One sample: name, the raw label text between { } ("" when none), value. */
typedef void (*MfPromSampleFn) (void *arg, const char *name, const char *labels, double value);

/*
 * Call fn for every sample line of text (comments and blank lines skipped).
 * Returns the number of samples, or -1 at the first malformed line (with
 * its number in *bad_line).
 */
extern int	mf_prom_parse(const char *text, size_t len, MfPromSampleFn fn, void *arg, int *bad_line);

/* The value of label key in a raw label text, unescaped into out; false when absent. */
extern bool mf_prom_label(const char *labels, const char *key, char *out, size_t outlen);

#endif							/* MF_PROM_TEXT_H */
