/*
 * metrics.c - evaluation metrics (conventions in metrics.h).
 *
 * Design note.  ROC AUC is computed as the Mann-Whitney statistic.  Where
 * size_t holds 64 bits, the caller's scratch array takes the scores of the
 * positives and of the negatives as order-preserving 64-bit keys, each part
 * sorted in place by an MSD radix sort on bytes (no second buffer; the
 * high bytes that all probabilities share cost one counting pass each), and
 * one merge walks them;
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

/* Sort a[0..n) ascending by insertion (short runs of the radix sort). */
static void
MetricsInsertionSort(uint64_t *a, size_t n)
{
	for (size_t i = 1; i < n; i++)
	{
		uint64_t	v = a[i];
		size_t		k = i;

		for (; k > 0 && a[k - 1] > v; k--)
			a[k] = a[k - 1];
		a[k] = v;
	}
}

/*
 * Ascending in-place sort of 64-bit keys: MSD radix sort on bytes
 * (American flag sort: count the values of the highest byte in which the
 * keys differ, swap each key into its bucket, sort each bucket the same
 * way); fewer than 48 keys go to insertion sort.  One AND/OR pass finds
 * that byte, so the high bytes all keys share cost no counting pass.
 * Sorted keys are the same whatever the algorithm.
 */
static void
MetricsRadixSort(uint64_t *a, size_t n)
{
	size_t		cnt[2][256],
				head[256],
				end[256],
				pos = 0;
	uint64_t	all = ~(uint64_t) 0,
				any = 0;
	int			shift;

	if (n < 48)
	{
		MetricsInsertionSort(a, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
	{
		all &= a[i];
		any |= a[i];
	}
	if (all == any)
		return;					/* all keys equal */
	shift = (63 - __builtin_clzll(all ^ any)) & ~7;
	/* two counter sets: runs of one byte value do not chain their updates */
	memset(cnt, 0, sizeof(cnt));
	for (size_t i = 0; i + 1 < n; i += 2)
	{
		cnt[0][(a[i] >> shift) & 0xFF]++;
		cnt[1][(a[i + 1] >> shift) & 0xFF]++;
	}
	cnt[0][(a[n - 1] >> shift) & 0xFF] += n % 2;
	for (int b = 0; b < 256; b++)
	{
		head[b] = pos;
		end[b] = pos += cnt[0][b] + cnt[1][b];
	}
	for (int b = 0; b < 256; b++)
	{
		while (head[b] < end[b])
		{
			uint64_t	v = a[head[b]];
			unsigned	d = (v >> shift) & 0xFF;

			while (d != (unsigned) b)
			{
				uint64_t	t = a[head[d]];

				a[head[d]++] = v;
				v = t;
				d = (v >> shift) & 0xFF;
			}
			a[head[b]++] = v;
		}
	}
	pos = 0;
	for (int b = 0; b < 256 && shift > 0; b++)
	{
		MetricsRadixSort(a + pos, end[b] - pos);
		pos = end[b];
	}
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

	/*
	 * Positives from the front, negatives from the back, both slots written
	 * (no branch on the label): ip + in = i < n keeps both slots free.
	 */
	for (i = 0; i < n; i++)
	{
		uint64_t	k = MetricsKey(score[i]),
					pos = y_true[i] == 1;

		keys[ip] = k;
		keys[n - 1 - in] = k;
		ip += pos;
		in += 1 - pos;
	}
	MetricsRadixSort(keys, n_pos);
	MetricsRadixSort(neg, n_neg);
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
	for (i = 0; i < n; i++)
		scratch[i] = i;
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
