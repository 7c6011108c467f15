/*
 * drift.c - quantile edges, PSI, two-sample KS and the reference sample
 * (design note atop drift.h).
 */
#include "drift.h"

#include <math.h>
#include <stddef.h>

/* Quantile q of sorted[0..n) by linear interpolation (numpy's default). */
static double
mf_drift_quantile(const double *sorted, size_t n, double q)
{
	double		h = q * (double) (n - 1);
	size_t		lo = (size_t) floor(h);

	if (lo + 1 >= n)
		return sorted[n - 1];
	return sorted[lo] + (h - (double) lo) * (sorted[lo + 1] - sorted[lo]);
}

/* Interior quantile edges, repeats dropped. */
size_t
mf_drift_edges(const double *sorted, size_t n, int nbins, double *edges)
{
	size_t		k = 0;

	if (n == 0 || nbins < 2)
		return 0;
	for (int i = 1; i < nbins; i++)
	{
		double		e = mf_drift_quantile(sorted, n, (double) i / nbins);

		if (k == 0 || e > edges[k - 1])
			edges[k++] = e;
	}
	return k;
}

/* Swap two doubles. */
static inline void
mf_drift_swap(double *a, double *b)
{
	double		t = *a;

	*a = *b;
	*b = t;
}

/* Hoare selection with a median-of-three pivot (Wirth's loop). */
double
mf_drift_select(double *a, size_t n, size_t k)
{
	ptrdiff_t	l = 0,
				m = (ptrdiff_t) n - 1;

	while (l < m)
	{
		ptrdiff_t	i = l,
					j = m,
					mid = (ptrdiff_t) k;
		double		x;

		/* median of a[l], a[k], a[m] into a[k] */
		if (a[l] > a[mid])
			mf_drift_swap(&a[l], &a[mid]);
		if (a[mid] > a[m])
			mf_drift_swap(&a[mid], &a[m]);
		if (a[l] > a[mid])
			mf_drift_swap(&a[l], &a[mid]);
		x = a[mid];
		do
		{
			while (a[i] < x)
				i++;
			while (x < a[j])
				j--;
			if (i <= j)
			{
				mf_drift_swap(&a[i], &a[j]);
				i++;
				j--;
			}
		} while (i <= j);
		if (j < (ptrdiff_t) k)
			l = i;
		if ((ptrdiff_t) k < i)
			m = j;
	}
	return a[k];
}

/* Smallest of a[0..n). */
static double
mf_drift_min(const double *a, size_t n)
{
	double		m = a[0];

	for (size_t i = 1; i < n; i++)
		if (a[i] < m)
			m = a[i];
	return m;
}

/* Deciles by selection: each order statistic from the part above the last. */
size_t
mf_drift_edges_unsorted(double *v, size_t n, int nbins, double *edges)
{
	size_t		k = 0,
				done = 0;		/* v[0..done) holds the smallest, in place */

	if (n == 0 || nbins < 2)
		return 0;
	for (int i = 1; i < nbins; i++)
	{
		double		h = (double) i / nbins * (double) (n - 1);
		size_t		lo = (size_t) floor(h);
		double		a,
					e;

		/* lo < done: the last decile's order statistic, in place */
		a = lo < done ? v[lo] : mf_drift_select(v + done, n - done, lo - done);
		done = lo + 1;
		e = lo + 1 >= n ? a : a + (h - (double) lo) * (mf_drift_min(v + done, n - done) - a);
		if (k == 0 || e > edges[k - 1])
			edges[k++] = e;
	}
	return k;
}

/* First edge at or above x (binary search), or n_edges. */
size_t
mf_drift_bin(const double *edges, size_t n_edges, double x)
{
	size_t		lo = 0,
				hi = n_edges;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (x <= edges[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Branch-free binning of several columns, row by row. */
void
mf_drift_histograms(const double *X, size_t n, size_t p, const size_t *cols, size_t ncols,
					const bool *const *skip, const double *edges, const size_t *n_edges,
					int64_t *counts)
{
	for (size_t r = 0; r < n; r++)
	{
		const double *row = X + r * p;

		for (size_t k = 0; k < ncols; k++)
		{
			const double *e = edges + k * MF_DRIFT_BINS;
			double		v = row[cols[k]];
			size_t		b = 0;

			if (skip[k] != NULL && skip[k][r])
				continue;
			for (size_t j = 0; j < n_edges[k]; j++)
				b += v > e[j];
			counts[k * MF_DRIFT_BINS + b]++;
		}
	}
}

/* PSI with every share floored at eps. */
double
mf_drift_psi(const double *ref, const double *cur, size_t k, double eps)
{
	double		tr = 0.0,
				tc = 0.0,
				psi = 0.0;

	for (size_t i = 0; i < k; i++)
	{
		tr += ref[i];
		tc += cur[i];
	}
	if (!(tr > 0.0) || !(tc > 0.0))
		return NAN;
	for (size_t i = 0; i < k; i++)
	{
		double		p = fmax(ref[i] / tr, eps);
		double		q = fmax(cur[i] / tc, eps);

		psi += (q - p) * log(q / p);
	}
	return psi;
}

/* Largest CDF distance over every value of a and b (both sorted). */
double
mf_drift_ks(const double *a, size_t na, const double *b, size_t nb)
{
	size_t		i = 0,
				j = 0;
	double		d = 0.0;

	if (na == 0 || nb == 0)
		return NAN;
	while (i < na || j < nb)
	{
		double		v = i < na && (j >= nb || a[i] <= b[j]) ? a[i] : b[j];
		double		diff;

		while (i < na && a[i] <= v)
			i++;
		while (j < nb && b[j] <= v)
			j++;
		diff = fabs((double) i / (double) na - (double) j / (double) nb);
		if (diff > d)
			d = diff;
	}
	return d;
}

/* Status of a PSI by the thresholds of drift.h. */
const char *
mf_drift_status(double psi)
{
	if (isnan(psi))
		return NULL;
	if (psi < MF_DRIFT_PSI_WARNING)
		return "ok";
	if (psi < MF_DRIFT_PSI_DRIFT)
		return "warning";
	return "drift";
}

/* Selection sampling: index t is taken with probability (k - m) / (n - t). */
size_t
mf_drift_sample(MfRng *rng, size_t n, size_t k, size_t *out)
{
	size_t		m = 0;

	for (size_t t = 0; t < n && m < k; t++)
	{
		if (k >= n || (double) (n - t) * mfk_rng_uniform(rng) < (double) (k - m))
			out[m++] = t;
	}
	return m;
}
