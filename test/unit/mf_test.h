/*
 * mf_test.h - a tiny TAP producer for the C unit tests of kernels/.
 *
 * Each check prints "ok N - name" or "not ok N - name"; mf_test_done()
 * prints the plan and returns the exit status (1 if anything failed), so
 * every test program can be run by prove or by scripts/run-tests.sh.
 */
#ifndef MF_TEST_H
#define MF_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int	mf_test_n = 0;
static int	mf_test_failed = 0;

/* Record one check. */
static inline int
mf_test_ok(int cond, const char *name)
{
	mf_test_n++;
	printf("%sok %d - %s\n", cond ? "" : "not ", mf_test_n, name);
	if (!cond)
		mf_test_failed++;
	fflush(stdout);
	return cond;
}

/* Print a diagnostic line (TAP comment). */
#define MF_DIAG(...) do { printf("# "); printf(__VA_ARGS__); printf("\n"); } while (0)

#define MF_OK(cond, name) mf_test_ok((cond) ? 1 : 0, (name))

/* Two doubles agree to a relative (or, near zero, absolute) tolerance. */
#define MF_CLOSE(a, b, tol, name) \
	do { double a_ = (a), b_ = (b); \
		 double d_ = fabs(a_ - b_), s_ = fmax(1.0, fmax(fabs(a_), fabs(b_))); \
		 if (!mf_test_ok(d_ <= (tol) * s_, (name))) \
			 MF_DIAG("  got %.17g, expected %.17g", a_, b_); } while (0)

#define MF_STR_EQ(a, b, name) \
	do { const char *a_ = (a), *b_ = (b); \
		 if (!mf_test_ok(a_ && b_ && strcmp(a_, b_) == 0, (name))) \
			 MF_DIAG("  got \"%s\", expected \"%s\"", a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } while (0)

/* Print the plan; exit status for main(). */
static inline int
mf_test_done(void)
{
	printf("1..%d\n", mf_test_n);
	return mf_test_failed ? 1 : 0;
}

#endif							/* MF_TEST_H */
