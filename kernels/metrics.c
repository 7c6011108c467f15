/*
 * metrics.c - evaluation metrics (conventions in metrics.h).
 *
 * Design note.  ROC AUC is computed as the Mann-Whitney statistic.  Where
 * size_t holds 64 bits, the caller's scratch array takes the scores of the
 * positives and of the negatives as order-preserving 64-bit keys, each part
 * sorted in place by an introsort of the keys (direct keys: cache
 * friendly), and one merge walks them;
 * elsewhere the samples are sorted by score (heapsort over the index
 * array), then groups of equal scores are walked.  Either way, a
 * positive scores 1 for every negative below its group and 1/2 for every
 * negative inside it; twice that count is an exact integer, so ties cost
 * no precision and the result equals scikit-learn's trapezoidal area.  All
 * other metrics are single passes (two for r2: the mean first, so SS_tot
 * does not suffer from cancellation).
 */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Lowercase description of an error code. */
const char *
mf_metrics_strerror(MfMetricErr code)
{
	switch (code)
	{
		case MF_METRIC_OK:
			return "success";
		case MF_METRIC_ERR_ARG:
			return "invalid argument";
		case MF_METRIC_ERR_EMPTY:
			return "no samples to evaluate";
		case MF_METRIC_ERR_LABEL:
			return "class label out of range";
		case MF_METRIC_ERR_NOT_FINITE:
			return "non-finite value in the input";
	}
	return "unknown metrics error";
}

/* Fraction of y_pred equal to y_true. */
MfMetricErr
mf_metrics_accuracy(const int *y_true, const int *y_pred, size_t n,
					double *out)
{
	size_t		i,
				hits = 0;

	if (y_true == NULL || y_pred == NULL || out == NULL)
		return MF_METRIC_ERR_ARG;
	if (n == 0)
		return MF_METRIC_ERR_EMPTY;
	for (i = 0; i < n; i++)
		hits += y_true[i] == y_pred[i];
	*out = (double) hits / (double) n;
	return MF_METRIC_OK;
}

/* k x k confusion matrix (rows = true, columns = predicted) into cm. */
MfMetricErr
mf_metrics_confusion(const int *y_true, const int *y_pred, size_t n, int k,
					 int64_t *cm)
{
	size_t		i;

	if (y_true == NULL || y_pred == NULL || cm == NULL || k < 1)
		return MF_METRIC_ERR_ARG;
	memset(cm, 0, (size_t) k * (size_t) k * sizeof(int64_t));
	for (i = 0; i < n; i++)
	{
		if (y_true[i] < 0 || y_true[i] >= k || y_pred[i] < 0 || y_pred[i] >= k)
			return MF_METRIC_ERR_LABEL;
		cm[(size_t) y_true[i] * (size_t) k + (size_t) y_pred[i]]++;
	}
	return n == 0 ? MF_METRIC_ERR_EMPTY : MF_METRIC_OK;
}

/* Accuracy and macro precision / recall / F1 from a confusion matrix. */
MfMetricErr
mf_metrics_class_report(const int64_t *cm, int k, MfClassReport *out)
{
	int64_t		total = 0,
				trace = 0;
	double		sp = 0.0,
				sr = 0.0,
				sf = 0.0;
	int			c,
				j,
				used = 0;

	if (cm == NULL || out == NULL || k < 1)
		return MF_METRIC_ERR_ARG;
	memset(out, 0, sizeof(*out));
	for (c = 0; c < k; c++)
	{
		int64_t		tp = cm[(size_t) c * k + c],
					true_sum = 0,
					pred_sum = 0;

		for (j = 0; j < k; j++)
		{
			if (cm[(size_t) c * k + j] < 0)
				return MF_METRIC_ERR_ARG;
			true_sum += cm[(size_t) c * k + j];
			pred_sum += cm[(size_t) j * k + c];
		}
		total += true_sum;
		trace += tp;
		if (true_sum == 0 && pred_sum == 0)
			continue;			/* not in y_true nor y_pred: not averaged */
		used++;
		sp += pred_sum > 0 ? (double) tp / (double) pred_sum : 0.0;
		sr += true_sum > 0 ? (double) tp / (double) true_sum : 0.0;
		/* 2 tp / (2 tp + fp + fn), and 2 tp + fp + fn = true_sum + pred_sum */
		sf += 2.0 * (double) tp / (double) (true_sum + pred_sum);
	}
	if (total == 0)
		return MF_METRIC_ERR_EMPTY;
	out->accuracy = (double) trace / (double) total;
	out->precision = sp / used;
	out->recall = sr / used;
	out->f1 = sf / used;
	out->n_classes = used;
	return MF_METRIC_OK;
}

/* Restore the max-heap property below root (key order, heap in idx[0..end)). */
static void
MetricsSiftDown(size_t *idx, const double *key, size_t root, size_t end)
{
	while (2 * root + 1 < end)
	{
		size_t		child = 2 * root + 1;
		size_t		tmp;

		if (child + 1 < end && key[idx[child]] < key[idx[child + 1]])
			child++;
		if (!(key[idx[root]] < key[idx[child]]))
			return;
		tmp = idx[root];
		idx[root] = idx[child];
		idx[child] = tmp;
		root = child;
	}
}

/* Sort idx[0..n) by ascending key (heapsort; keys have no NaN). */
static void
MetricsHeapSort(size_t *idx, const double *key, size_t n)
{
	size_t		start,
				end,
				tmp;

	for (start = n / 2; start-- > 0;)
		MetricsSiftDown(idx, key, start, n);
	for (end = n; end-- > 1;)
	{
		tmp = idx[0];
		idx[0] = idx[end];
		idx[end] = tmp;
		MetricsSiftDown(idx, key, 0, end);
	}
}

/* An order-preserving 64-bit key of a non-NaN double (-0 and +0 equal). */
static uint64_t
MetricsKey(double v)
{
	uint64_t	b;

	if (v == 0.0)
		v = 0.0;
	memcpy(&b, &v, sizeof(b));
	return (b >> 63) ? ~b : b | ((uint64_t) 1 << 63);
}

/* Sift a[i] down the max-heap a[0..n). */
static void
MetricsKeySiftDown(uint64_t *a, size_t i, size_t n)
{
	uint64_t	v = a[i];

	for (;;)
	{
		size_t		c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && a[c + 1] > a[c])
			c++;
		if (a[c] <= v)
			break;
		a[i] = a[c];
		i = c;
	}
	a[i] = v;
}

/* Heapsort of 64-bit keys (the fallback of MetricsSortKeys). */
static void
MetricsKeyHeapSort(uint64_t *a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		MetricsKeySiftDown(a, i, n);
	for (size_t end = n; end-- > 1;)
	{
		uint64_t	t = a[0];

		a[0] = a[end];
		a[end] = t;
		MetricsKeySiftDown(a, 0, end);
	}
}

/*
 * Ascending sort of 64-bit keys in place: introsort (median-of-three
 * quicksort with Hoare partitioning, which splits runs of equal keys
 * evenly; insertion sort below 24 keys; heapsort past a depth of 2 log2 n).
 * Sorted keys are the same whatever the algorithm; this one is inline
 * comparisons instead of qsort's callback and temporary buffer.
 */
static void
MetricsSortKeys(uint64_t *a, size_t n, int depth)
{
	while (n > 24)
	{
		uint64_t	x = a[0],
					y = a[n / 2],
					z = a[n - 1],
					pivot;
		size_t		i = 0,
					j = n - 1;

		if (depth-- == 0)
		{
			MetricsKeyHeapSort(a, n);
			return;
		}
		pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
		for (;;)
		{
			uint64_t	t;

			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i >= j)
				break;
			t = a[i];
			a[i] = a[j];
			a[j] = t;
			i++;
			j--;
		}
		/* a[0..j] <= pivot <= a[j+1..n); recurse on the smaller part */
		if (j + 1 < n - (j + 1))
		{
			MetricsSortKeys(a, j + 1, depth);
			a += j + 1;
			n -= j + 1;
		}
		else
		{
			MetricsSortKeys(a + j + 1, n - (j + 1), depth);
			n = j + 1;
		}
	}
	for (size_t i = 1; i < n; i++)
	{
		uint64_t	v = a[i];
		size_t		k = i;

		for (; k > 0 && a[k - 1] > v; k--)
			a[k] = a[k - 1];
		a[k] = v;
	}
}

/* 2 floor(log2 n) + 2: the quicksort depth before heapsort takes over. */
static int
MetricsSortDepth(size_t n)
{
	int			d = 2;

	for (; n > 1; n >>= 1)
		d += 2;
	return d;
}

/*
 * AUC from sorted keys: keys[0..n_pos) of the positives, keys[n_pos..n) of
 * the negatives; the same integer count as the grouped walk.
 */
static double
MetricsAucByKeys(const int *y_true, const double *score, size_t n,
				 uint64_t *keys, uint64_t n_pos)
{
	uint64_t   *neg = keys + n_pos;
	uint64_t	n_neg = n - n_pos,
				twice_wins = 0,
				ip = 0,
				in = 0,
				i,
				j;

	for (i = 0; i < n; i++)
	{
		if (y_true[i] == 1)
			keys[ip++] = MetricsKey(score[i]);
		else
			neg[in++] = MetricsKey(score[i]);
	}
	MetricsSortKeys(keys, n_pos, MetricsSortDepth(n_pos));
	MetricsSortKeys(neg, n_neg, MetricsSortDepth(n_neg));
	for (i = 0, j = 0; i < n_pos;)
	{
		uint64_t	k = keys[i],
					p = 0,
					q = 0,
					below;

		while (i < n_pos && keys[i] == k)
			i++, p++;
		while (j < n_neg && neg[j] < k)
			j++;
		below = j;
		while (j < n_neg && neg[j] == k)
			j++, q++;
		/* n < 2^32, so this sum stays below 2 n_pos n_neg < 2^63 */
		twice_wins += p * (2 * below + q);
	}
	return (double) twice_wins / (2.0 * (double) n_pos * (double) n_neg);
}

/* Binary ROC AUC (Mann-Whitney with half credit for ties). */
MfMetricErr
mf_metrics_roc_auc(const int *y_true, const double *score, size_t n,
				   size_t *scratch, double *auc, bool *available)
{
	uint64_t	n_pos = 0,
				n_neg = 0,
				neg_below = 0,
				twice_wins = 0;
	size_t		i,
				g;

	if (y_true == NULL || score == NULL || scratch == NULL || auc == NULL ||
		available == NULL || n > UINT32_MAX)
		return MF_METRIC_ERR_ARG;
	*auc = NAN;
	*available = false;
	if (n == 0)
		return MF_METRIC_ERR_EMPTY;
	for (i = 0; i < n; i++)
	{
		if (y_true[i] != 0 && y_true[i] != 1)
			return MF_METRIC_ERR_LABEL;
		if (isnan(score[i]))
			return MF_METRIC_ERR_NOT_FINITE;
		n_pos += y_true[i] == 1;
		scratch[i] = i;
	}
	n_neg = n - n_pos;
	if (n_pos == 0 || n_neg == 0)
		return MF_METRIC_OK;	/* undefined: not available */
	if (sizeof(size_t) == sizeof(uint64_t))
	{
		*auc = MetricsAucByKeys(y_true, score, n, (uint64_t *) scratch, n_pos);
		*available = true;
		return MF_METRIC_OK;
	}
	MetricsHeapSort(scratch, score, n);
	for (i = 0; i < n; i = g)
	{
		uint64_t	p = 0,
					q = 0;

		for (g = i; g < n && score[scratch[g]] == score[scratch[i]]; g++)
		{
			if (y_true[scratch[g]] == 1)
				p++;
			else
				q++;
		}
		/* n < 2^32, so this sum stays below 2 n_pos n_neg < 2^63 */
		twice_wins += p * (2 * neg_below + q);
		neg_below += q;
	}
	*auc = (double) twice_wins / (2.0 * (double) n_pos * (double) n_neg);
	*available = true;
	return MF_METRIC_OK;
}

/* Mean negative log-likelihood of the true class (proba is n x k). */
MfMetricErr
mf_metrics_log_loss(const int *y_true, const double *proba, size_t n, int k,
					double *out)
{
	double		sum = 0.0;
	size_t		i;

	if (y_true == NULL || proba == NULL || out == NULL || k < 1)
		return MF_METRIC_ERR_ARG;
	if (n == 0)
		return MF_METRIC_ERR_EMPTY;
	for (i = 0; i < n; i++)
	{
		const double *row = proba + i * (size_t) k;
		double		p;
		int			j;

		if (y_true[i] < 0 || y_true[i] >= k)
			return MF_METRIC_ERR_LABEL;
		for (j = 0; j < k; j++)
			if (isnan(row[j]))
				return MF_METRIC_ERR_NOT_FINITE;
		p = row[y_true[i]];
		p = fmin(fmax(p, MF_METRICS_LOG_LOSS_EPS), 1.0 - MF_METRICS_LOG_LOSS_EPS);
		sum -= log(p);
	}
	*out = sum / (double) n;
	return MF_METRIC_OK;
}

/* r2, mse, rmse and mae of a regression. */
MfMetricErr
mf_metrics_regression(const double *y_true, const double *y_pred, size_t n,
					  MfRegressionReport *out)
{
	double		mean = 0.0,
				ss_tot = 0.0,
				ss_res = 0.0,
				abs_sum = 0.0;
	size_t		i;

	if (y_true == NULL || y_pred == NULL || out == NULL)
		return MF_METRIC_ERR_ARG;
	memset(out, 0, sizeof(*out));
	if (n == 0)
		return MF_METRIC_ERR_EMPTY;
	for (i = 0; i < n; i++)
	{
		if (!isfinite(y_true[i]) || !isfinite(y_pred[i]))
			return MF_METRIC_ERR_NOT_FINITE;
		mean += y_true[i];
	}
	mean /= (double) n;
	for (i = 0; i < n; i++)
	{
		double		d = y_true[i] - y_pred[i],
					t = y_true[i] - mean;

		ss_res += d * d;
		ss_tot += t * t;
		abs_sum += fabs(d);
	}
	if (!isfinite(ss_res) || !isfinite(ss_tot))
		return MF_METRIC_ERR_NOT_FINITE;	/* squares overflowed */
	out->mse = ss_res / (double) n;
	out->rmse = sqrt(out->mse);
	out->mae = abs_sum / (double) n;
	if (ss_tot > 0.0)
		out->r2 = 1.0 - ss_res / ss_tot;
	else
		out->r2 = ss_res == 0.0 ? 1.0 : 0.0;	/* constant y_true */
	return MF_METRIC_OK;
}

/* Sum of squared distances from each row to its assigned centre. */
MfMetricErr
mf_metrics_inertia(const double *x, size_t n, size_t p, const double *centres,
				   int k, const int *assign, double *out)
{
	double		sum = 0.0;
	size_t		i,
				j;

	if (x == NULL || centres == NULL || assign == NULL || out == NULL ||
		k < 1 || p == 0)
		return MF_METRIC_ERR_ARG;
	if (n == 0)
		return MF_METRIC_ERR_EMPTY;
	for (i = 0; i < n; i++)
	{
		const double *row = x + i * p,
				   *c;

		if (assign[i] < 0 || assign[i] >= k)
			return MF_METRIC_ERR_LABEL;
		c = centres + (size_t) assign[i] * p;
		for (j = 0; j < p; j++)
		{
			double		d = row[j] - c[j];

			sum += d * d;
		}
	}
	if (!isfinite(sum))
		return MF_METRIC_ERR_NOT_FINITE;
	*out = sum;
	return MF_METRIC_OK;
}
