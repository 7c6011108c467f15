/*
 * test_metrics.c - unit tests of the evaluation metrics against values
 * worked out by hand (arithmetic in the comments), plus a brute-force
 * cross-check of ROC AUC on random data with many ties.
 */
#include "metrics.h"
#include "mf_test.h"

#include <stdint.h>
#include <stdlib.h>

/* Accuracy, 3-class confusion matrix and macro scores. */
static void
test_three_classes(void)
{
	/* i:            0  1  2  2  1  0 */
	const int	yt[6] = {0, 1, 2, 2, 1, 0};
	const int	yp[6] = {0, 2, 2, 2, 1, 1};
	/*
	 * true 0 -> predicted 0 (i0), 1 (i5)    row 0 = [1, 1, 0]
	 * true 1 -> predicted 2 (i1), 1 (i4)    row 1 = [0, 1, 1]
	 * true 2 -> predicted 2, 2              row 2 = [0, 0, 2]
	 */
	const int64_t expect[9] = {1, 1, 0, 0, 1, 1, 0, 0, 2};
	int64_t		cm[9];
	MfClassReport r;
	double		acc;

	MF_OK(mf_metrics_accuracy(yt, yp, 6, &acc) == MF_METRIC_OK, "accuracy ok");
	MF_CLOSE(acc, 4.0 / 6.0, 1e-15, "accuracy = 4 hits / 6");
	MF_OK(mf_metrics_confusion(yt, yp, 6, 3, cm) == MF_METRIC_OK, "confusion ok");
	MF_OK(memcmp(cm, expect, sizeof(cm)) == 0, "3-class confusion matrix (rows true, cols predicted)");
	MF_OK(mf_metrics_class_report(cm, 3, &r) == MF_METRIC_OK, "report ok");
	MF_CLOSE(r.accuracy, 4.0 / 6.0, 1e-15, "report accuracy = trace 4 / 6");

	/*
	 * class 0: tp 1, pred 1, true 2: P 1,   R 1/2, F1 2/(2+1) = 2/3
	 * class 1: tp 1, pred 2, true 2: P 1/2, R 1/2, F1 2/(2+2) = 1/2
	 * class 2: tp 2, pred 3, true 2: P 2/3, R 1,   F1 4/(3+2) = 4/5
	 * macro P = (1 + 1/2 + 2/3) / 3 = 13/18
	 * macro R = (1/2 + 1/2 + 1) / 3 = 2/3
	 * macro F1 = (20/30 + 15/30 + 24/30) / 3 = 59/90
	 */
	MF_CLOSE(r.precision, 13.0 / 18.0, 1e-15, "macro precision = 13/18");
	MF_CLOSE(r.recall, 2.0 / 3.0, 1e-15, "macro recall = 2/3");
	MF_CLOSE(r.f1, 59.0 / 90.0, 1e-15, "macro F1 = 59/90");
	MF_OK(r.n_classes == 3, "3 classes averaged");
}

/* Macro scores with a never-predicted class and an absent class. */
static void
test_empty_class(void)
{
	const int	yt[6] = {0, 0, 1, 1, 2, 2};
	const int	yp[6] = {0, 0, 1, 0, 0, 0};
	int64_t		cm[16];
	MfClassReport r;

	/*
	 * k = 4; class 3 occurs nowhere, so it is not averaged (sklearn's
	 * labels=None).
	 * class 0: tp 2, pred 5, true 2: P 2/5, R 1,   F1 4/(5+2) = 4/7
	 * class 1: tp 1, pred 1, true 2: P 1,   R 1/2, F1 2/(1+2) = 2/3
	 * class 2: tp 0, pred 0, true 2: P 0 (zero_division), R 0, F1 0
	 * macro P = 1.4 / 3, R = 1.5 / 3 = 1/2, F1 = (12/21 + 14/21) / 3 = 26/63
	 */
	MF_OK(mf_metrics_confusion(yt, yp, 6, 4, cm) == MF_METRIC_OK, "confusion with k = 4");
	MF_OK(cm[0] == 2 && cm[4] == 1 && cm[5] == 1 && cm[8] == 2 && cm[15] == 0, "empty-class confusion cells");
	MF_OK(mf_metrics_class_report(cm, 4, &r) == MF_METRIC_OK, "report ok");
	MF_OK(r.n_classes == 3, "absent class 3 not averaged");
	MF_CLOSE(r.precision, 1.4 / 3.0, 1e-15, "macro precision = (0.4 + 1 + 0) / 3");
	MF_CLOSE(r.recall, 0.5, 1e-15, "macro recall = (1 + 0.5 + 0) / 3");
	MF_CLOSE(r.f1, 26.0 / 63.0, 1e-15, "macro F1 = 26/63 (never-predicted class scores 0)");
	MF_CLOSE(r.accuracy, 0.5, 1e-15, "accuracy 3/6");
}

/* Classification argument errors. */
static void
test_class_errors(void)
{
	const int	yt[3] = {0, 1, 3};
	const int	yp[3] = {0, 1, 1};
	int64_t		cm[9];
	int64_t		zero[4] = {0, 0, 0, 0};
	MfClassReport r;
	double		acc;

	MF_OK(mf_metrics_confusion(yt, yp, 3, 3, cm) == MF_METRIC_ERR_LABEL, "true label 3 with k = 3");
	MF_OK(mf_metrics_confusion(yp, yt, 3, 3, cm) == MF_METRIC_ERR_LABEL, "predicted label 3 with k = 3");
	MF_OK(mf_metrics_confusion(yt, yp, 0, 3, cm) == MF_METRIC_ERR_EMPTY, "no samples");
	MF_OK(mf_metrics_confusion(yt, yp, 3, 0, cm) == MF_METRIC_ERR_ARG, "k = 0");
	MF_OK(mf_metrics_class_report(zero, 2, &r) == MF_METRIC_ERR_EMPTY, "all-zero matrix");
	MF_OK(mf_metrics_accuracy(yt, yp, 0, &acc) == MF_METRIC_ERR_EMPTY, "accuracy of nothing");
	MF_OK(mf_metrics_accuracy(NULL, yp, 3, &acc) == MF_METRIC_ERR_ARG, "NULL labels");
	MF_STR_EQ(mf_metrics_strerror(MF_METRIC_ERR_LABEL), "class label out of range", "strerror");
}

/* O(n^2) AUC for the cross-check: pairs, ties count 1/2. */
static double
brute_auc(const int *y, const double *s, size_t n)
{
	double		wins = 0.0,
				pairs = 0.0;
	size_t		i,
				j;

	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			if (y[i] == 1 && y[j] == 0)
			{
				pairs += 1.0;
				wins += s[i] > s[j] ? 1.0 : (s[i] == s[j] ? 0.5 : 0.0);
			}
	return wins / pairs;
}

/* ROC AUC: hand-computed cases, ties, unavailability, errors. */
static void
test_roc_auc(void)
{
	size_t		scratch[600];
	double		auc;
	bool		avail;

	{
		/*
		 * ascending: 0.1(neg) 0.35(pos) 0.4(neg) 0.8(pos); the positive at
		 * 0.35 beats 1 negative, the one at 0.8 beats 2: 3 / (2 * 2)
		 */
		const int	y[4] = {0, 0, 1, 1};
		const double s[4] = {0.1, 0.4, 0.35, 0.8};

		MF_OK(mf_metrics_roc_auc(y, s, 4, scratch, &auc, &avail) == MF_METRIC_OK && avail, "auc ok");
		MF_CLOSE(auc, 0.75, 1e-15, "auc [0.1 0.4 0.35 0.8] vs [0 0 1 1] = 3/4");
	}
	{
		/*
		 * negatives 0.1, 0.5; positives 0.5 (1 below + 1/2 tie = 1.5),
		 * 0.9 (2), 0.5 (1.5): 5 / (3 * 2) = 5/6
		 */
		const int	y[5] = {0, 0, 1, 1, 1};
		const double s[5] = {0.1, 0.5, 0.5, 0.9, 0.5};

		MF_OK(mf_metrics_roc_auc(y, s, 5, scratch, &auc, &avail) == MF_METRIC_OK && avail, "tied auc ok");
		MF_CLOSE(auc, 5.0 / 6.0, 1e-15, "auc with a 3-way tie = 5/6");
	}
	{
		/* all scores equal: each positive gets 1/2 per negative: 0.5 */
		const int	y[4] = {0, 1, 0, 1};
		const double s[4] = {0.3, 0.3, 0.3, 0.3};

		mf_metrics_roc_auc(y, s, 4, scratch, &auc, &avail);
		MF_CLOSE(auc, 0.5, 1e-15, "all-tied scores: auc 1/2");
	}
	{
		const int	y[4] = {1, 1, 0, 0};
		const double s[4] = {0.1, 0.2, 0.3, 0.4};
		const double inf[2] = {INFINITY, -INFINITY};	/* labels 1, 0 */

		mf_metrics_roc_auc(y, s, 4, scratch, &auc, &avail);
		MF_CLOSE(auc, 0.0, 1e-15, "inverted ranking: auc 0");
		mf_metrics_roc_auc(y + 1, inf, 2, scratch, &auc, &avail);
		MF_CLOSE(auc, 1.0, 1e-15, "infinite scores are ordered: auc 1");
	}
	{
		const int	y[3] = {1, 1, 1};
		const int	y2[3] = {0, 2, 1};
		const double s[3] = {0.2, 0.5, 0.9};
		const double sn[3] = {0.2, NAN, 0.9};
		const int	y3[3] = {0, 1, 1};

		MF_OK(mf_metrics_roc_auc(y, s, 3, scratch, &auc, &avail) == MF_METRIC_OK && !avail && isnan(auc),
			  "one class only: not available");
		MF_OK(mf_metrics_roc_auc(y2, s, 3, scratch, &auc, &avail) == MF_METRIC_ERR_LABEL, "label 2 refused");
		MF_OK(mf_metrics_roc_auc(y3, sn, 3, scratch, &auc, &avail) == MF_METRIC_ERR_NOT_FINITE, "NaN score refused");
		MF_OK(mf_metrics_roc_auc(y3, s, 0, scratch, &auc, &avail) == MF_METRIC_ERR_EMPTY, "no samples");
		MF_OK(mf_metrics_roc_auc(y3, s, 3, NULL, &auc, &avail) == MF_METRIC_ERR_ARG, "no scratch");
	}
	{
		/* random data with heavy ties against the O(n^2) definition */
		int			y[600];
		double		s[600];
		uint64_t	x = 12345;
		size_t		i,
					n;
		int			agree = 1;

		for (n = 1; n <= 600; n += 61)
		{
			for (i = 0; i < n; i++)
			{
				x = x * 6364136223846793005ULL + 1442695040888963407ULL;
				y[i] = (int) ((x >> 33) & 1);
				s[i] = (double) ((x >> 40) % 13) / 13.0;
			}
			if (mf_metrics_roc_auc(y, s, n, scratch, &auc, &avail) != MF_METRIC_OK)
				agree = 0;
			else if (avail && fabs(auc - brute_auc(y, s, n)) > 1e-12)
			{
				MF_DIAG("n = %zu: heap %.17g, brute %.17g", n, auc, brute_auc(y, s, n));
				agree = 0;
			}
		}
		MF_OK(agree, "auc equals the pairwise definition on 10 random tied samples");
	}
}

/*
 * AUC through the key sort on inputs that stress a sort (sorted,
 * reversed, all equal, organ pipe, distinct random, few values) equals the
 * O(n^2) pair count.
 */
static void
test_roc_auc_sort_patterns(void)
{
	size_t		n = 2500,
				i;
	int		   *y = malloc(sizeof(int) * n);
	double	   *s = malloc(sizeof(double) * n);
	size_t	   *scratch = malloc(sizeof(size_t) * n);
	int			ok = 1;
	unsigned	state = 777;

	for (int pat = 0; pat < 6; pat++)
	{
		double		auc,
					ref;
		bool		avail;

		for (i = 0; i < n; i++)
		{
			state = state * 1103515245u + 12345u;
			y[i] = (state >> 16) % 3 == 0;	/* unbalanced classes */
			state = state * 1103515245u + 12345u;
			s[i] = pat == 0 ? (double) i :
				pat == 1 ? (double) (n - i) :
				pat == 2 ? 1.5 :
				pat == 3 ? (double) (i < n / 2 ? i : n - i) :
				pat == 4 ? (double) (state >> 4) / 1e6 - 100.0 :
				(double) ((state >> 16) % 3);
		}
		ref = brute_auc(y, s, n);
		if (mf_metrics_roc_auc(y, s, n, scratch, &auc, &avail) != MF_METRIC_OK || !avail ||
			auc != ref)
		{
			MF_DIAG("pattern %d: auc %.17g, pairs %.17g", pat, auc, ref);
			ok = 0;
		}
	}
	MF_OK(ok, "auc equals the pair count on six sort-stressing score patterns");
	free(y);
	free(s);
	free(scratch);
}

/* AUC on 3000 tied, signed scores equals the O(n^2) pair count. */
static void
test_roc_auc_pairs(void)
{
	size_t		n = 3000,
				i;
	int		   *y = malloc(sizeof(int) * n);
	double	   *s = malloc(sizeof(double) * n);
	size_t	   *scratch = malloc(sizeof(size_t) * n);
	double		auc,
				ref;
	bool		avail;
	unsigned	state = 12345;

	for (i = 0; i < n; i++)
	{
		state = state * 1103515245u + 12345u;
		y[i] = (state >> 16) & 1;
		state = state * 1103515245u + 12345u;
		/* few distinct values, both signs, -0 and +0: many ties */
		s[i] = ((double) ((state >> 16) % 41) - 20.0) / 8.0 + (y[i] ? 0.5 : 0.0);
		if (s[i] == 0.0 && (state & 1))
			s[i] = -0.0;
	}
	ref = brute_auc(y, s, n);
	MF_OK(mf_metrics_roc_auc(y, s, n, scratch, &auc, &avail) == MF_METRIC_OK && avail &&
		  auc == ref, "auc equals the pair count on tied scores");
	MF_DIAG("auc %.12f pairs %.12f", auc, ref);
	free(y);
	free(s);
	free(scratch);
}

/* qsort order of doubles (no NaN; -0 == +0). */
static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

/* AUC by qsort of each class's scores and the integer tie count. */
static double
qsort_auc(const int *y, const double *s, size_t n)
{
	double	   *pos = malloc(sizeof(double) * (n + 1)),
			   *neg = malloc(sizeof(double) * (n + 1));
	uint64_t	np = 0,
				nn = 0,
				twice = 0,
				j = 0;

	for (size_t i = 0; i < n; i++)
	{
		if (y[i] == 1)
			pos[np++] = s[i];
		else
			neg[nn++] = s[i];
	}
	qsort(pos, np, sizeof(double), cmp_double);
	qsort(neg, nn, sizeof(double), cmp_double);
	for (uint64_t i = 0, g; i < np; i = g)
	{
		uint64_t	below,
					eq;

		for (g = i; g < np && pos[g] == pos[i]; g++)
			;
		while (j < nn && neg[j] < pos[i])
			j++;
		for (below = j; j < nn && neg[j] == pos[i]; j++)
			;
		eq = j - below;
		twice += (g - i) * (2 * below + eq);
	}
	free(pos);
	free(neg);
	return (double) twice / (2.0 * (double) np * (double) nn);
}

/*
 * AUC through the radix sort on large inputs equals the qsort count
 * exactly: probabilities near 0 and 1 (shared high bytes), few values,
 * neighbours that differ in the low two bytes only, signed values with -0,
 * subnormals and infinities, all equal.
 */
static void
test_roc_auc_radix(void)
{
	size_t		cap = 200000;
	int		   *y = malloc(sizeof(int) * cap);
	double	   *s = malloc(sizeof(double) * cap);
	size_t	   *scratch = malloc(sizeof(size_t) * cap);
	uint64_t	x = 99;
	int			bad = 0;

	for (int t = 0; t < 30; t++)
	{
		size_t		n = t % 6 == 0 ? cap : 1 + (size_t) (x >> 40) % 30000;
		int			pat = t % 5;
		double		auc;
		bool		avail;

		for (size_t i = 0; i < n; i++)
		{
			double		u;

			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			y[i] = (x >> 33) % 7 < 3;
			u = (double) (x >> 11) * 0x1.0p-53;
			s[i] = pat == 0 ? 1.0 / (1.0 + exp(-30.0 * (u - 0.5) - (y[i] ? 2.0 : 0.0))) :
				pat == 1 ? floor(u * 20.0) / 20.0 :
				pat == 2 ? 0.5 + (double) (x >> 50) * 0x1.0p-53 :
				pat == 3 ? (u < 0.05 ? -INFINITY : u > 0.95 ? INFINITY :
							u < 0.1 ? -0.0 : u < 0.15 ? 0.0 : u < 0.2 ? 4.9e-324 * (double) (x >> 61) :
							(u - 0.5) * 1e6) :
				0.7;
		}
		if (mf_metrics_roc_auc(y, s, n, scratch, &auc, &avail) != MF_METRIC_OK ||
			!avail || auc != qsort_auc(y, s, n))
		{
			MF_DIAG("case %d (pattern %d, n %zu): auc %.17g, qsort %.17g", t, pat, n,
					auc, qsort_auc(y, s, n));
			bad++;
		}
	}
	MF_OK(bad == 0, "auc equals the qsort count on 30 large radix-stressing samples");
	free(y);
	free(s);
	free(scratch);
}

/* Log loss, including clipping. */
static void
test_log_loss(void)
{
	/* scikit-learn's doc example: ham = 0, spam = 1 */
	const int	y[4] = {1, 0, 0, 1};
	const double p[8] = {0.1, 0.9, 0.9, 0.1, 0.8, 0.2, 0.35, 0.65};
	const int	y2[2] = {0, 2};
	const double p2[6] = {0.0, 0.5, 0.5, 0.2, 0.2, 0.6};
	const double pn[2] = {NAN, 0.5};
	double		ll;

	/*
	 * true-class probabilities 0.9, 0.9, 0.8, 0.65:
	 * -(2 ln 0.9 + ln 0.8 + ln 0.65) / 4
	 * = (0.2107210313 + 0.2231435513 + 0.4307829161) / 4 = 0.2161618747
	 */
	MF_OK(mf_metrics_log_loss(y, p, 4, 2, &ll) == MF_METRIC_OK, "log loss ok");
	MF_CLOSE(ll, 0.21616187468057912, 1e-12, "log loss of the sklearn example = 0.216162");
	MF_CLOSE(ll, -(2 * log(0.9) + log(0.8) + log(0.65)) / 4, 1e-15, "log loss formula");

	/*
	 * row 0 has p(true) = 0, clipped to 1e-15: -ln 1e-15 = 34.5387763949;
	 * row 1 has p(true) = 0.6: 0.5108256238; mean = 17.5248010094
	 */
	MF_OK(mf_metrics_log_loss(y2, p2, 2, 3, &ll) == MF_METRIC_OK, "3-class log loss ok");
	MF_CLOSE(ll, (-log(1e-15) - log(0.6)) / 2, 1e-15, "zero probability clipped at 1e-15");
	MF_CLOSE(ll, 17.524801009370, 1e-11, "clipped log loss = 17.5248");
	MF_OK(mf_metrics_log_loss(y2, p2, 2, 2, &ll) == MF_METRIC_ERR_LABEL, "label 2 with k = 2");
	MF_OK(mf_metrics_log_loss(y, pn, 1, 2, &ll) == MF_METRIC_ERR_NOT_FINITE,
		  "NaN probability (of another class) refused");
}

/* Regression metrics. */
static void
test_regression(void)
{
	const double yt[4] = {3, -0.5, 2, 7};
	const double yp[4] = {2.5, 0.0, 2, 8};
	const double c[3] = {2, 2, 2};
	const double c2[3] = {2, 2, 3};
	const double bad[2] = {1, NAN};
	MfRegressionReport r;

	/*
	 * residuals 0.5, -0.5, 0, -1: SS_res = 0.25 + 0.25 + 0 + 1 = 1.5
	 * mse = 1.5 / 4 = 0.375, rmse = sqrt(0.375), mae = 2 / 4 = 0.5
	 * mean = 11.5 / 4 = 2.875; SS_tot = 0.125^2 + 3.375^2 + 0.875^2 +
	 * 4.125^2 = 0.015625 + 11.390625 + 0.765625 + 17.015625 = 29.1875
	 * r2 = 1 - 1.5 / 29.1875 = 0.9486081370
	 */
	MF_OK(mf_metrics_regression(yt, yp, 4, &r) == MF_METRIC_OK, "regression ok");
	MF_CLOSE(r.mse, 0.375, 1e-15, "mse = 0.375");
	MF_CLOSE(r.rmse, sqrt(0.375), 1e-15, "rmse = sqrt(0.375)");
	MF_CLOSE(r.mae, 0.5, 1e-15, "mae = 0.5");
	MF_CLOSE(r.r2, 1.0 - 1.5 / 29.1875, 1e-15, "r2 = 1 - 1.5 / 29.1875");
	MF_CLOSE(r.r2, 0.94860813704496794, 1e-14, "r2 = 0.948608");

	MF_OK(mf_metrics_regression(c, c, 3, &r) == MF_METRIC_OK && r.r2 == 1.0,
		  "constant y_true, perfect prediction: r2 = 1");
	MF_OK(mf_metrics_regression(c, c2, 3, &r) == MF_METRIC_OK && r.r2 == 0.0,
		  "constant y_true, imperfect prediction: r2 = 0");
	MF_CLOSE(r.mse, 1.0 / 3.0, 1e-15, "mse of [2 2 2] vs [2 2 3] = 1/3");
	/* predicting the mean everywhere gives r2 = 0; worse gives r2 < 0 */
	{
		const double m[4] = {2.875, 2.875, 2.875, 2.875};
		const double w[4] = {7, 2, -0.5, 3};

		mf_metrics_regression(yt, m, 4, &r);
		MF_CLOSE(r.r2, 0.0, 1e-15, "mean prediction: r2 = 0");
		/* residuals -4, -2.5, 2.5, 4: SS_res = 16 + 6.25 + 6.25 + 16 = 44.5 */
		mf_metrics_regression(yt, w, 4, &r);
		MF_CLOSE(r.r2, 1.0 - 44.5 / 29.1875, 1e-15, "reversed prediction: r2 = 1 - 44.5 / 29.1875 < 0");
	}
	MF_OK(mf_metrics_regression(bad, yt, 2, &r) == MF_METRIC_ERR_NOT_FINITE, "NaN target refused");
	MF_OK(mf_metrics_regression(yt, yp, 0, &r) == MF_METRIC_ERR_EMPTY, "no samples");
}

/* Clustering inertia. */
static void
test_inertia(void)
{
	const double x[8] = {0, 0, 1, 1, 4, 4, 5, 5};
	const double c[4] = {0.5, 0.5, 4.5, 4.5};
	const int	a[4] = {0, 0, 1, 1};
	const int	a2[4] = {0, 0, 0, 1};
	const int	bad[4] = {0, 2, 0, 1};
	double		in;

	/* every point is (0.5, 0.5) from its centre: 4 * (0.25 + 0.25) = 2 */
	MF_OK(mf_metrics_inertia(x, 4, 2, c, 2, a, &in) == MF_METRIC_OK, "inertia ok");
	MF_CLOSE(in, 2.0, 1e-15, "inertia = 4 * 0.5 = 2");
	/* (4,4) assigned to (0.5,0.5): 3.5^2 * 2 = 24.5 instead of 0.5 */
	mf_metrics_inertia(x, 4, 2, c, 2, a2, &in);
	MF_CLOSE(in, 1.5 + 24.5, 1e-15, "inertia with a bad assignment = 26");
	MF_OK(mf_metrics_inertia(x, 4, 2, c, 2, bad, &in) == MF_METRIC_ERR_LABEL, "assignment 2 with k = 2");
	MF_OK(mf_metrics_inertia(x, 0, 2, c, 2, a, &in) == MF_METRIC_ERR_EMPTY, "no rows");
}

/* Run all groups. */
int
main(void)
{
	test_three_classes();
	test_empty_class();
	test_class_errors();
	test_roc_auc();
	test_roc_auc_pairs();
	test_roc_auc_sort_patterns();
	test_roc_auc_radix();
	test_log_loss();
	test_regression();
	test_inertia();
	return mf_test_done();
}
