/*
 * mf_kernels.h - numeric kernels of the model factory (pure C11 + CBLAS/LAPACK).
 *
 * Design note
 * -----------
 * These kernels know nothing of PostgreSQL.  The extension (a backend or a
 * job worker) and the standalone server call them with plain arrays; every
 * rule below exists so that both callers can use them safely.
 *
 * Data layout.  Matrices are row-major doubles: X is n x p, element (i, j) at
 * X[i * p + j].  Dense-layer weights are in x out row-major, so a layer
 * computes Y = X W + b with one gemm (NoTrans, NoTrans).  Linear models use
 * the same convention: binary/regression coefficients are p doubles plus one
 * intercept; multinomial logistic coefficients are p x K row-major plus K
 * intercepts.  Class labels are ints 0..K-1 (the caller maps its labels).
 *
 * Memory.  Kernels never call malloc directly: workspace comes from the
 * caller's MfAllocator (palloc in the extension, malloc in tests).  All
 * workspace is obtained before the main loop; nothing is allocated inside
 * hot loops.  Single-row prediction functions never allocate: the caller
 * passes scratch space (see the *_scratch_size functions).
 *
 * Cancellation and longjmp.  Long loops call env->progress between blocks
 * of work (at least once per epoch/iteration, and at most every
 * MF_BLOCK_ROWS rows of a large gemm).  A non-zero return stops the kernel,
 * which frees its workspace and returns MF_KERR_CANCELLED.  The extension's
 * callback runs CHECK_FOR_INTERRUPTS(), which may longjmp straight out of
 * the kernel: this is safe because kernels hold no resource except memory
 * from the caller's allocator (freed with its memory context) and keep no
 * global or static mutable state.  Output arrays may be partly written when
 * a kernel fails or is cancelled; callers must not use them then.
 *
 * Errors.  Functions return an MfKErr (0 = success); mfk_strerror() gives a
 * lowercase message.  No kernel prints, exits or aborts.  Trained weights
 * are checked for NaN/Inf (MF_KERR_NOT_FINITE); inputs are checked too
 * (MF_KERR_INPUT_NOT_FINITE).
 *
 * Determinism.  Every random choice (init, shuffles, splits, dropout masks,
 * k-means++ seeding) comes from MfRng (xoshiro256** seeded by splitmix64).
 * With the same seed, data and a single BLAS thread the results are
 * bit-identical.  Kernels do not change the BLAS thread count (global
 * state): callers set openblas_set_num_threads(1) when they need
 * reproducibility.
 *
 * Gated activations (GEGLU, REGLU, SwiGLU).  Input rows have 2h values and
 * output rows h values.  The first half a = z[0..h) is the value, the second
 * half b = z[h..2h) the gate: out = a * act(b), act = GELU / ReLU / SiLU
 * (the convention of `x, gate = x.chunk(2, -1); x * act(gate)`).  In an MLP a
 * gated hidden layer of width h therefore has a dense part with 2h outputs.
 */
#ifndef MF_KERNELS_H
#define MF_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- errors */

typedef enum MfKErr
{
	MF_KOK = 0,
	MF_KERR_BADARG,				/* invalid argument */
	MF_KERR_NOMEM,				/* allocator returned NULL */
	MF_KERR_SINGULAR,			/* singular / not positive definite system */
	MF_KERR_NOT_FINITE,			/* NaN/Inf in the trained weights */
	MF_KERR_INPUT_NOT_FINITE,	/* NaN/Inf in the input data */
	MF_KERR_CANCELLED,			/* progress callback asked to stop */
	MF_KERR_LINESEARCH			/* line search failed to make progress */
} MfKErr;

/* Lowercase message for an error code ("non-finite value in the weights"). */
extern const char *mfk_strerror(int err);

/* ------------------------------------------------------------ allocator */

typedef struct MfAllocator
{
	void	   *(*alloc) (void *ctx, size_t size);
	void		(*free) (void *ctx, void *ptr);
	void	   *ctx;
} MfAllocator;

/* An allocator over malloc/free (tests, standalone server). */
extern const MfAllocator mfk_malloc_allocator;

/* Allocate n doubles (overflow-checked); NULL on failure. */
extern double *mfk_alloc_doubles(const MfAllocator *a, size_t n);
/* Allocate n bytes (NULL-safe for n == 0: returns a 1-byte block). */
extern void *mfk_alloc_bytes(const MfAllocator *a, size_t n);
/* Free p (NULL is ignored). */
extern void mfk_free(const MfAllocator *a, void *p);

/* ------------------------------------------------- progress / environment */

typedef enum MfProgressKind
{
	MF_PROGRESS_TICK = 0,		/* between blocks: only a chance to cancel */
	MF_PROGRESS_ITERATION		/* an epoch/iteration finished: losses valid */
} MfProgressKind;

typedef struct MfProgress
{
	MfProgressKind kind;
	const char *phase;			/* "linreg", "logreg", "mlp", "kmeans", ... */
	int64_t		iteration;		/* epoch / iteration number (1-based) */
	int64_t		total;			/* maximum number of iterations */
	double		loss;			/* training loss (NAN if unknown) */
	double		val_loss;		/* validation loss (NAN if none) */
	double		fraction;		/* estimated fraction done, 0..1 */
} MfProgress;

typedef int (*MfProgressFn) (void *ctx, const MfProgress *p);

/* What every long-running kernel needs from its caller. */
typedef struct MfEnv
{
	MfAllocator alloc;
	MfProgressFn progress;		/* may be NULL; non-zero return cancels */
	void	   *progress_ctx;
} MfEnv;

/* Per-iteration history in caller-owned arrays (either may be NULL). */
typedef struct MfHistory
{
	double	   *train_loss;		/* [capacity] */
	double	   *val_loss;		/* [capacity]; NAN when no validation set */
	int			capacity;
	int			n;				/* entries written */
} MfHistory;

/* Rows per block between progress calls in large BLAS work. */
#define MF_BLOCK_ROWS 65536

/* Rows per block for work_per_row flops a row (<= MF_BLOCK_ROWS, >= 1). */
extern size_t mfk_block_rows(size_t work_per_row);
/* Call env->progress (if any); MF_KERR_CANCELLED if it asks to stop. */
extern int	mfk_report(const MfEnv *env, const MfProgress *p);
/* A TICK report with the given phase/iteration/fraction. */
extern int	mfk_tick(const MfEnv *env, const char *phase, int64_t iteration,
					 int64_t total, double fraction);
/* Append to a history (ignored when full or NULL). */
extern void mfk_history_push(MfHistory *h, double train_loss, double val_loss);
/* 1 if all n values are finite. */
extern int	mfk_all_finite(const double *x, size_t n);

/* ------------------------------------------------------------------ PRNG */

typedef struct MfRng
{
	uint64_t	s[4];			/* xoshiro256** state */
	int			has_spare;		/* Box-Muller keeps its second value */
	double		spare;
} MfRng;

/* Seed through splitmix64 (any seed, including 0, is fine). */
extern void mfk_rng_seed(MfRng *r, uint64_t seed);
/* Next 64 random bits. */
extern uint64_t mfk_rng_next(MfRng *r);
/* Uniform double in [0, 1) with 53 random bits. */
extern double mfk_rng_uniform(MfRng *r);
/* Uniform double in [lo, hi). */
extern double mfk_rng_uniform_range(MfRng *r, double lo, double hi);
/* Unbiased integer in [0, n) (n > 0). */
extern uint64_t mfk_rng_below(MfRng *r, uint64_t n);
/* Standard normal (Box-Muller). */
extern double mfk_rng_normal(MfRng *r);
/* Fisher-Yates shuffle of idx[0..n). */
extern void mfk_rng_shuffle(MfRng *r, size_t *idx, size_t n);
/* idx = a random permutation of 0..n-1. */
extern void mfk_rng_permutation(MfRng *r, size_t *idx, size_t n);
/* Seed child from parent (independent stream, advances parent). */
extern void mfk_rng_split(MfRng *parent, MfRng *child);
/*
 * Test rows of a seeded train/test split of n rows: per class of y (labels
 * 0..k-1; others always train) round(size test_size), at most size - 1, or
 * of all rows when y is NULL.  count[0..k) receives the class sizes.
 */
extern size_t mfk_split_test_rows(const int *y, int k, size_t n,
								  double test_size, size_t *count);
/*
 * The split: test (n_test of mfk_split_test_rows) and train rows (n - n_test)
 * in ascending order.  train must hold n entries (scratch), bits (n + 63) / 64
 * words; count is mfk_split_test_rows' (overwritten).  One shuffle per class
 * in class order (or one permutation when y is NULL) draws from r.
 */
extern void mfk_split_rows(MfRng *r, const int *y, int k, size_t *count,
						   size_t n, double test_size, size_t *train,
						   size_t *test, uint64_t *bits);

/* ----------------------------------------------------------- activations */

typedef enum MfAct
{
	MF_ACT_IDENTITY = 0,
	MF_ACT_RELU,
	MF_ACT_GELU,				/* exact: 0.5 x (1 + erf(x / sqrt 2)) */
	MF_ACT_SILU,
	MF_ACT_TANH,
	MF_ACT_SIGMOID,
	MF_ACT_GEGLU,				/* gated: a * gelu(b) */
	MF_ACT_REGLU,				/* gated: a * relu(b) */
	MF_ACT_SWIGLU				/* gated: a * silu(b) */
} MfAct;

/* Name <-> enum ("relu", "gelu", "silu", "tanh", "sigmoid", "identity",
 * "geglu", "reglu", "swiglu"); -1 when unknown. */
extern int	mfk_act_from_name(const char *name);
extern const char *mfk_act_name(MfAct act);
/* 1 for GEGLU/REGLU/SwiGLU. */
extern int	mfk_act_is_gated(MfAct act);
/* The elementwise activation a gated one applies to its gate. */
extern MfAct mfk_act_gate_base(MfAct act);
/* Numerically stable logistic function. */
extern double mfk_sigmoid(double x);
/* f(x) and f'(x) of an elementwise activation. */
extern double mfk_act_scalar(MfAct act, double x);
extern double mfk_act_deriv(MfAct act, double x);
/* y = f(z), elementwise, n values (y may alias z). */
extern void mfk_act_forward(MfAct act, const double *z, double *y, size_t n);
/* dz = dy * f'(z) (dz may alias dy). */
extern void mfk_act_backward(MfAct act, const double *z, const double *dy,
							 double *dz, size_t n);
/* float32 f(x) and f'(x) (own erf, expf; tanh and sigmoid through double). */
extern float mfk_act_scalar_f(MfAct act, float x);
extern float mfk_act_deriv_f(MfAct act, float x);
/* dz += dy * f'(z), float32, n values (elementwise activations). */
extern void mfk_act_backward_add_f(MfAct act, const float *z, const float *dy,
								   float *dz, size_t n);
/* float32 versions of the two above. */
extern void mfk_act_forward_f(MfAct act, const float *z, float *y, size_t n);
extern void mfk_act_backward_f(MfAct act, const float *z, const float *dy,
							   float *dz, size_t n);
/* Gated: z is rows x 2h, y is rows x h (y may alias z: rows go in order). */
extern void mfk_glu_forward(MfAct act, const double *z, double *y,
							size_t rows, size_t h);
/* Gated backward: dz (rows x 2h) from dy (rows x h). */
extern void mfk_glu_backward(MfAct act, const double *z, const double *dy,
							 double *dz, size_t rows, size_t h);
/* Row-wise softmax / log-softmax of rows x k (max-subtracted; out may alias z). */
extern void mfk_softmax_rows(const double *z, double *out, size_t rows, size_t k);
extern void mfk_log_softmax_rows(const double *z, double *out, size_t rows, size_t k);
/* Backward through softmax (p = its output) and log-softmax (lp = its output). */
extern void mfk_softmax_backward(const double *p, const double *dy, double *dz,
								 size_t rows, size_t k);
extern void mfk_log_softmax_backward(const double *lp, const double *dy,
									 double *dz, size_t rows, size_t k);

/* ---------------------------------------------------------------- layers */

/* Y (n x out) = X (n x in) W (in x out) + b (b may be NULL). */
extern void mfk_dense_forward(const double *X, size_t n, size_t in,
							  const double *W, const double *b, size_t out,
							  double *Y);
/*
 * Backward of the dense layer given dY (n x out): dW (in x out) and db (out)
 * are set (or, with accumulate != 0, added to); dX (n x in) is set unless
 * NULL.
 */
extern void mfk_dense_backward(const double *X, size_t n, size_t in,
							   const double *W, size_t out, const double *dY,
							   double *dW, double *db, double *dX,
							   int accumulate);
/* float32 variants (cblas_sgemm). */
extern void mfk_dense_forward_f(const float *X, size_t n, size_t in,
								const float *W, const float *b, size_t out,
								float *Y);
extern void mfk_dense_backward_f(const float *X, size_t n, size_t in,
								 const float *W, size_t out, const float *dY,
								 float *dW, float *db, float *dX,
								 int accumulate);

/* Inverted dropout in place: mask[i] = keep; kept values scaled 1/(1-p). */
extern void mfk_dropout_forward(MfRng *r, double p, double *x,
								unsigned char *mask, size_t n);
/* dx = dy * mask / (1 - p) (dx may alias dy). */
extern void mfk_dropout_backward(double p, const unsigned char *mask,
								 const double *dy, double *dx, size_t n);

typedef enum MfInit
{
	MF_INIT_AUTO = 0,			/* He for ReLU-like, Xavier otherwise */
	MF_INIT_XAVIER_UNIFORM,		/* U(-a, a), a = sqrt(6 / (fan_in + fan_out)) */
	MF_INIT_XAVIER_NORMAL,		/* N(0, 2 / (fan_in + fan_out)) */
	MF_INIT_HE_UNIFORM,			/* U(-a, a), a = sqrt(6 / fan_in) */
	MF_INIT_HE_NORMAL			/* N(0, 2 / fan_in) */
} MfInit;

/* Fill W (fan_in x fan_out) according to scheme. */
extern void mfk_init_weights(MfRng *r, MfInit scheme, double *W,
							 size_t fan_in, size_t fan_out);

/* ---------------------------------------------------------------- losses */
/*
 * Losses are means over rows (n); grad (same shape as the prediction) is the
 * gradient of the returned value and may be NULL.
 */

/* Mean squared error: (1 / (n k)) sum (pred - y)^2 over n x k values. */
extern double mfk_loss_mse(const double *pred, const double *y, size_t n,
						   size_t k, double *grad);
/* Binary cross-entropy from logits z (n values), y in [0, 1]. */
extern double mfk_loss_bce_logits(const double *z, const double *y, size_t n,
								  double *grad);
/* Categorical cross-entropy from logits z (n x k), labels y in 0..k-1. */
extern double mfk_loss_cce_logits(const double *z, const int *y, size_t n,
								  size_t k, double *grad);

/* ------------------------------------------------- optimisers, schedules */

typedef enum MfOptKind
{
	MF_OPT_SGD = 0,
	MF_OPT_ADAM,
	MF_OPT_ADAMW
} MfOptKind;

typedef struct MfOptimConfig
{
	MfOptKind	kind;
	double		momentum;		/* SGD */
	int			nesterov;		/* SGD */
	double		beta1, beta2, eps;	/* Adam/AdamW (0.9, 0.999, 1e-8) */
	double		weight_decay;	/* AdamW: decoupled w -= lr*wd*w */
	double		l2;				/* all: coupled L2, g += l2 * w */
} MfOptimConfig;

typedef struct MfOptState
{
	MfOptimConfig cfg;
	size_t		n;
	int64_t		t;				/* steps taken */
	double	   *m;				/* momentum / first moment */
	double	   *v;				/* second moment (Adam) */
} MfOptState;

/* Defaults for a kind (momentum 0.9, betas 0.9/0.999, eps 1e-8). */
extern void mfk_optim_defaults(MfOptimConfig *cfg, MfOptKind kind);
/* Allocate and zero the state for n parameters. */
extern int	mfk_optim_init(MfOptState *s, const MfOptimConfig *cfg, size_t n,
						   const MfAllocator *a);
extern void mfk_optim_free(MfOptState *s, const MfAllocator *a);
/*
 * One step on w given gradient g and learning rate lr.  decay_mask (n bytes,
 * may be NULL = all) marks the parameters the L2 / weight decay applies to
 * (biases are usually excluded).
 */
extern void mfk_optim_step(MfOptState *s, double *w, const double *g,
						   double lr, const unsigned char *decay_mask);
/* The same step on float32 weights and gradients (moments stay double). */
extern void mfk_optim_step_f(MfOptState *s, float *w, const float *g,
							 double lr, const unsigned char *decay_mask);

typedef enum MfLrKind
{
	MF_LR_CONSTANT = 0,
	MF_LR_STEP,					/* base * gamma^floor(step / step_size) */
	MF_LR_COSINE				/* min + (base-min)(1+cos(pi step/total))/2 */
} MfLrKind;

typedef struct MfLrSchedule
{
	MfLrKind	kind;
	double		base_lr;
	int64_t		step_size;		/* STEP */
	double		gamma;			/* STEP */
	int64_t		total_steps;	/* COSINE (clamped after) */
	double		min_lr;			/* COSINE */
	int64_t		warmup_steps;	/* linear warm-up, any kind (0 = none) */
} MfLrSchedule;

/* Learning rate at step (0-based; the MLP steps once per epoch). */
extern double mfk_lr_at(const MfLrSchedule *s, int64_t step);

/* ------------------------------------------------------ linear regression */

typedef enum MfLinregMethod
{
	MF_LINREG_CHOLESKY = 1,
	MF_LINREG_QR = 2,
	MF_LINREG_MIN_NORM = 3		/* rank-deficient: minimum-norm SVD solve */
} MfLinregMethod;

typedef struct MfLinregOpts
{
	double		alpha;			/* ridge penalty (>= 0) on coefficients only */
	int			fit_intercept;	/* centre X and y; intercept not penalised */
	double		max_cond;		/* QR when cond estimate exceeds (0 = 1e10) */
	int			force_qr;		/* skip the normal equations */
} MfLinregOpts;

typedef struct MfLinregInfo
{
	MfLinregMethod method;		/* which solver produced the result */
	double		rcond;			/* reciprocal condition of X'X+aI (dpocon) */
	int			n_constant;		/* zero-variance columns (coef 0, QR path) */
} MfLinregInfo;

extern void mfk_linreg_defaults(MfLinregOpts *o);
/*
 * Minimise ||y - X w - b||^2 + alpha ||w||^2.  coef: p outputs, intercept:
 * one (0 without fit_intercept); info may be NULL.  A rank-deficient X
 * gets the minimum-norm least-squares solution (see linreg.c).
 */
extern int	mfk_linreg_fit(const MfEnv *env, const double *X, const double *y,
						   size_t n, size_t p, const MfLinregOpts *o,
						   double *coef, double *intercept, MfLinregInfo *info);
/* w.x + b for one row. */
extern double mfk_linear_predict_row(const double *coef, double intercept,
									 size_t p, const double *x);
/* out[i] = X[i].w + b for n rows (blocked gemv). */
extern int	mfk_linear_predict(const MfEnv *env, const double *X, size_t n,
							   size_t p, const double *coef, double intercept,
							   double *out);

/* ----------------------------------------------------------------- L-BFGS */

/* f(x), gradient into g; return MfKErr (non-zero stops the optimiser). */
typedef int (*MfObjectiveFn) (void *ctx, const double *x, double *f, double *g);

typedef struct MfLbfgsOpts
{
	int			m;				/* history pairs (10) */
	int			max_iter;		/* (100) */
	double		gtol;			/* stop when ||g||_inf <= gtol (1e-4); values
								 * below ~1e-10 |f| are beyond rounding */
	double		ftol;			/* stop on relative f decrease < ftol (1e-12) */
	int			max_linesearch; /* evaluations per line search (20) */
	const char *phase;			/* progress phase name */
} MfLbfgsOpts;

typedef struct MfLbfgsInfo
{
	int			n_iter;
	int			n_eval;
	double		f;
	double		gnorm_inf;
	int			converged;		/* gradient tolerance reached */
} MfLbfgsInfo;

extern void mfk_lbfgs_defaults(MfLbfgsOpts *o);
/*
 * Minimise f from x (in/out, n values) with a strong-Wolfe line search.
 * Returns MF_KOK also when max_iter is reached (info->converged = 0).
 */
extern int	mfk_lbfgs(const MfEnv *env, MfObjectiveFn fn, void *ctx, double *x,
					  size_t n, const MfLbfgsOpts *o, MfHistory *hist,
					  MfLbfgsInfo *info);

/* ---------------------------------------------------- logistic regression */

typedef enum MfLogregSolver
{
	MF_LOGREG_LBFGS = 0,
	MF_LOGREG_NEWTON			/* IRLS with Cholesky; binary only */
} MfLogregSolver;

typedef struct MfLogregOpts
{
	double		C;				/* inverse penalty strength (1.0) */
	int			penalty;		/* 1 = L2 (default), 0 = none */
	int			fit_intercept;	/* (1) unpenalised */
	int			multinomial;	/* softmax even for 2 classes */
	MfLogregSolver solver;
	int			max_iter;		/* (100) */
	double		tol;			/* ||grad||_inf tolerance (1e-4) */
} MfLogregOpts;

typedef struct MfLogregInfo
{
	int			n_iter;
	double		objective;		/* C * sum(logloss) + 0.5 ||w||^2 */
	double		gnorm_inf;
	int			converged;
} MfLogregInfo;

extern void mfk_logreg_defaults(MfLogregOpts *o);
/* Coefficient count for K classes and p features (p or p*K). */
extern size_t mfk_logreg_n_coef(size_t p, int n_classes, int multinomial);
/* Intercept count (1 or K). */
extern size_t mfk_logreg_n_intercept(int n_classes, int multinomial);
/*
 * Fit; y holds labels 0..n_classes-1.  Binary (n_classes == 2 and not
 * multinomial): coef p, intercept 1, P(class 1) = sigmoid(x.w + b).
 * Otherwise coef p x K row-major, intercept K, softmax(x W + b).
 */
extern int	mfk_logreg_fit(const MfEnv *env, const double *X, const int *y,
						   size_t n, size_t p, int n_classes,
						   const MfLogregOpts *o, double *coef,
						   double *intercept, MfHistory *hist,
						   MfLogregInfo *info);
/*
 * Class probabilities for one row into out[K] (K = 2 for the binary form,
 * whose coef has p values; set multinomial accordingly).  No allocation.
 */
extern void mfk_logreg_predict_proba_row(const double *coef,
										 const double *intercept, size_t p,
										 int n_classes, int multinomial,
										 const double *x, double *out);
/* Batch version: out is n x K (K = 2 for binary). */
extern int	mfk_logreg_predict_proba(const MfEnv *env, const double *X,
									 size_t n, size_t p, const double *coef,
									 const double *intercept, int n_classes,
									 int multinomial, double *out);
/* The objective and its gradient (tests, diagnostics); g may be NULL. */
extern int	mfk_logreg_objective(const MfEnv *env, const double *X,
								 const int *y, size_t n, size_t p,
								 int n_classes, const MfLogregOpts *o,
								 const double *coef, const double *intercept,
								 double *f, double *gcoef, double *gintercept);

/*
 * Hessian of the binary objective at (coef, intercept) into H: the upper
 * triangle of the row-major q x q matrix, q = p + intercept (tests).
 */
extern int	mfk_logreg_hessian(const MfEnv *env, const double *X,
							   const int *y, size_t n, size_t p,
							   const MfLogregOpts *o, const double *coef,
							   const double *intercept, double *H);

/* ------------------------------------------------------------------- MLP */

#define MF_MLP_MAX_LAYERS 16	/* dense layers, output included */

typedef enum MfTask
{
	MF_TASK_REGRESSION = 0,		/* linear output, MSE */
	MF_TASK_CLASSIFICATION		/* softmax output, categorical CE */
} MfTask;

/*
 * The shape of a network: widths, activation, task, initialisation.  (The
 * "mlp" section of a model config is MfMlpConfig in mf_config.h; training
 * derives this shape from it and from the data.)
 */
typedef struct MfMlpShape
{
	size_t		n_inputs;
	size_t		n_outputs;		/* classes, or regression targets */
	int			n_hidden;		/* hidden layers (< MF_MLP_MAX_LAYERS) */
	size_t		hidden[MF_MLP_MAX_LAYERS];	/* widths after activation */
	MfAct		activation;		/* hidden activation (gated allowed) */
	MfTask		task;
	MfInit		init;
} MfMlpShape;

/*
 * A network.  params is one flat array: for each dense layer l, W_l
 * (in_l x out_l row-major) followed by b_l (out_l).  A gated hidden layer
 * of width h has out_l = 2h and feeds h values to the next layer.
 */
typedef struct MfMlp
{
	MfMlpShape cfg;
	int			n_layers;		/* dense layers = n_hidden + 1 */
	size_t		in[MF_MLP_MAX_LAYERS];	/* dense input width */
	size_t		out[MF_MLP_MAX_LAYERS];	/* dense output width */
	size_t		act_out[MF_MLP_MAX_LAYERS];	/* width after activation */
	size_t		w_off[MF_MLP_MAX_LAYERS];
	size_t		b_off[MF_MLP_MAX_LAYERS];
	size_t		n_params;
	size_t		max_width;		/* widest dense output / input */
	double	   *params;			/* n_params (owned by the caller) */
} MfMlp;

typedef struct MfMlpTrainOpts
{
	int			epochs;			/* (200) */
	size_t		batch_size;		/* (32) */
	MfOptimConfig optim;		/* (Adam) */
	MfLrSchedule schedule;		/* (constant 1e-3), stepped per epoch */
	double		dropout;		/* hidden-layer dropout rate (0) */
	double		validation_fraction;	/* (0.1 with early stopping) */
	int			early_stopping;	/* stop on validation loss, restore best */
	int			patience;		/* epochs without improvement (10) */
	double		min_delta;		/* loss must drop by more than this (1e-4) */
	int			shuffle;		/* shuffle each epoch (1) */
	uint64_t	seed;			/* init, split, shuffles, dropout */
	int			init_params;	/* initialise params first (1) */
} MfMlpTrainOpts;

typedef struct MfMlpInfo
{
	int			n_epochs;		/* epochs run */
	int			best_epoch;		/* 1-based epoch of the kept weights */
	double		best_loss;		/* its validation (or training) loss */
	double		final_train_loss;
	size_t		n_train;
	size_t		n_val;
	int			stopped_early;
} MfMlpInfo;

/* Fill dims/offsets of m from the shape cfg (no allocation; params = NULL). */
extern int	mfk_mlp_layout(MfMlp *m, const MfMlpShape *cfg);
/* Initialise m->params with the configured scheme; biases zero. */
extern void mfk_mlp_init_params(MfMlp *m, MfRng *r);
extern void mfk_mlp_train_defaults(MfMlpTrainOpts *o);
/*
 * Train m (params allocated by the caller, n_params doubles).  Labels:
 * y_class (n ints) for classification, y_reg (n x n_outputs) for
 * regression; the other is NULL.  hist gets one entry per epoch.
 */
extern int	mfk_mlp_train(const MfEnv *env, MfMlp *m, const double *X,
						  size_t n, const int *y_class, const double *y_reg,
						  const MfMlpTrainOpts *o, MfHistory *hist,
						  MfMlpInfo *info);
/* Doubles of scratch for mfk_mlp_predict_row. */
extern size_t mfk_mlp_scratch_size(const MfMlp *m);
/* Inference on one row: out[n_outputs] (probabilities or values). */
extern void mfk_mlp_predict_row(const MfMlp *m, const double *x, double *out,
								double *scratch);
/* Inference on n rows: out n x n_outputs (blocked gemm). */
extern int	mfk_mlp_predict(const MfEnv *env, const MfMlp *m, const double *X,
							size_t n, double *out);
/* Mean loss (CE or MSE) of the network on n rows (no dropout). */
extern int	mfk_mlp_loss(const MfEnv *env, const MfMlp *m, const double *X,
						 size_t n, const int *y_class, const double *y_reg,
						 double *loss);

/* ---------------------------------------------------------------- k-means */

typedef enum MfKmeansInit
{
	MF_KMEANS_PLUSPLUS = 0,		/* greedy k-means++ */
	MF_KMEANS_RANDOM			/* k distinct random rows */
} MfKmeansInit;

typedef struct MfKmeansOpts
{
	int			k;
	int			max_iter;		/* Lloyd iterations per run (300) */
	double		tol;			/* centre shift^2 <= tol * mean variance (1e-4) */
	int			n_init;			/* restarts, lowest inertia kept (10) */
	MfKmeansInit init;
	uint64_t	seed;
} MfKmeansOpts;

typedef struct MfKmeansInfo
{
	double		inertia;		/* sum of squared distances */
	int			n_iter;			/* iterations of the kept run */
	int			best_init;		/* 0-based index of the kept run */
	int			n_empty_fixed;	/* empty clusters relocated (all runs) */
} MfKmeansInfo;

extern void mfk_kmeans_defaults(MfKmeansOpts *o);
/*
 * Cluster n rows into k; centers k x p; labels (n, may be NULL); hist (may
 * be NULL) gets the inertia of each Lloyd iteration of the kept run.
 */
extern int	mfk_kmeans_fit(const MfEnv *env, const double *X, size_t n,
						   size_t p, const MfKmeansOpts *o, double *centers,
						   int *labels, MfHistory *hist, MfKmeansInfo *info);
/* k-means++ seeding only (n_local_trials = 2 + floor(ln k)). */
extern int	mfk_kmeans_plusplus(const MfEnv *env, const double *X, size_t n,
								size_t p, int k, MfRng *r, double *centers);
/* Nearest centre of one row; its squared distance into *dist (may be NULL). */
extern int	mfk_kmeans_assign_row(const double *centers, int k, size_t p,
								  const double *x, double *dist);
/* Nearest centre of n rows (labels, dist may be NULL). */
extern int	mfk_kmeans_assign(const MfEnv *env, const double *centers, int k,
							  size_t p, const double *X, size_t n, int *labels,
							  double *dist);

#endif							/* MF_KERNELS_H */
