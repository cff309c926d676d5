/*
 * escape.cu -- the escape kernel of saddle's cupy backend, and its C twin.
 *
 * One thread runs one trial.  The body mirrors saddle/kernels/cpu.py::run_trial
 * (and the @njit pieces of saddle/rng.py, saddle/objectives/spike.py and
 * saddle/objectives/quadratic.py) operation by operation, in the same order,
 * so that where the two compilers' libm agree (always for + - * / and sqrt,
 * which IEEE 754 rounds correctly) the results equal the Numba kernel's bit
 * for bit.  The random numbers are the contract of saddle/rng.py:
 * Philox4x32-10 with key (seed mod 2^32, seed / 2^32), counter (j + 1, trial, t, purpose 2^30 + m - 1).
 *
 * The same file is compiled two ways:
 *
 *   - by NVRTC (cupy.RawModule) as CUDA C++, where __CUDACC__ is defined:
 *     the __global__ kernels below, one thread per trial (or per block/variate);
 *   - by a C compiler (gcc -std=c11 -x c) for the CPU, where each kernel gets a
 *     host entry point NAME_host that runs the "threads" 0 .. n - 1 serially.
 *     tests/test_gpu_source.py compares that C twin with the Numba kernel and
 *     with randomgen's Philox4x32-10, so the code the GPU runs is tested without one.
 *
 * Only plain C is used below the macros: no templates, no references, no
 * headers beyond <math.h> in C mode (NVRTC has the math functions built in).
 *
 * Per-thread vectors.  Compiled with -DSADDLE_D=<d>, the dimension is a
 * compile-time constant and each thread's vectors are local arrays (registers
 * or local memory); without it, the dimension is a kernel argument and the
 * vectors live in a global workspace of N_VECTORS d n doubles laid out so that
 * element k of thread r's vector a is work[(a d + k) n + r] (coalesced across
 * a warp).  Element k of a per-thread vector v is therefore always v[k * vs]:
 * vs = 1 for local arrays, vs = n in the workspace.
 *
 * Optional specialisation: -DSADDLE_OBJECTIVE=<code> and -DSADDLE_OPTIMIZER=<code>
 * make the objective and optimiser compile-time constants (the other branches
 * vanish, and with them their registers); the kernel arguments must then carry
 * the same codes (saddle/kernels/gpu.py derives both from the same values).
 *
 * Floating point: compile without contraction of a * b + c into fused
 * multiply-adds (NVRTC --fmad=false; gcc -ffp-contract=off), as Numba does.
 */

#ifdef __CUDACC__
#define SADDLE_GLOBAL extern "C" __global__
#define SADDLE_DEVICE static __device__ __forceinline__
#define SADDLE_THREAD_INDEX ((long long)blockIdx.x * (long long)blockDim.x + (long long)threadIdx.x)
#else
#include <math.h>
#define SADDLE_GLOBAL
#define SADDLE_DEVICE static inline
#define SADDLE_THREAD_INDEX saddle_thread_index
/* The C twin's "thread index": set by the host entry points before each call. */
static _Thread_local long long saddle_thread_index;
#endif

typedef unsigned long long u64;
typedef long long i64;

/* Codes shared with the Python side (saddle.rng, saddle.kernels.cpu, saddle.manifolds). */
#define DATA 0
#define NOISE 1
#define PERTURB 2
#define START 3
#define UNIFORM 0
#define RADEMACHER 1
#define LAPLACE 2
#define ESCAPED 0
#define CENSORED 1
#define DIVERGED 2
#define FROZEN 3
/* The optimisers' section codes SGD, GD, NOISY_SGD, MOMENTUM, PGD and CNC_PGD are defined by the host at
 * every build (-DSGD=...), from each optimiser's gpu_code (saddle/optimizers/, saddle/kernels/gpu.py). */
/* Positions in the po array of optimiser options (saddle/kernels/gpu.py, PO_FIELDS). */
#define PO_SIGMA_ISO 0
#define PO_MOMENTUM 1
#define PO_PERTURBATION_RADIUS 2
#define PO_GRAD_THRESHOLD 3
#define PO_T_THRESHOLD 4
#define PO_CNC_ETA 5
#define PO_LR_DECAY 6         /* (the schedules: refused on the GPU for now) */
#define PO_BATCH_AFTER_DROP 7
#if !defined(SGD) || !defined(GD) || !defined(NOISY_SGD) || !defined(MOMENTUM) || !defined(PGD) || !defined(CNC_PGD)
#error "build escape.cu through saddle.kernels.gpu, which defines the optimisers' codes"
#endif
#define SPIKE 0
#define QUADRATIC 1
#define GE2015 2
#define SPHERE 0
#define EUCLIDEAN 1
#define PER_COLUMN 1 /* ge2015 sampling: one mini-batch per column (SHARED = 0: one for all) */
#define N_VECTORS 8  /* per-thread vectors of the state's length: u, g, p, z, x, noise, velocity, start */

#ifdef SADDLE_OBJECTIVE
#define OBJECTIVE(s) SADDLE_OBJECTIVE
#else
#define OBJECTIVE(s) ((s)->objective)
#endif
#ifdef SADDLE_OPTIMIZER
#define OPTIMIZER(s) SADDLE_OPTIMIZER
#else
#define OPTIMIZER(s) ((s)->optimizer)
#endif

/* Constants: the doubles that saddle.rng computes in Python (repr round-trips exactly). */
#define TWO_M53 1.1102230246251565e-16  /* 2**-53 */
#define TWO_M32 2.3283064365386963e-10  /* 2**-32 */
#define SQRT3 1.7320508075688772        /* math.sqrt(3.0) */
#define INV_SQRT2 0.7071067811865475    /* 1.0 / math.sqrt(2.0) */
#define LN2_HI 0.6931471803691238     /* saddle.rng._LN2_HI: ln 2 to 32 bits */
#define LN2_LO 1.9082149292705877e-10 /* saddle.rng._LN2_LO: ln 2 - LN2_HI */
#define SQRT2 1.4142135623730951       /* saddle.rng._SQRT2 */
#define PI_4 0.7853981633974483        /* saddle.rng._PI_4 */
#define LOG_L1 0.6666666666666666 /* saddle.rng._LOG_COEFFS[0] */
#define LOG_L2 0.4 /* saddle.rng._LOG_COEFFS[1] */
#define LOG_L3 0.2857142857142857 /* saddle.rng._LOG_COEFFS[2] */
#define LOG_L4 0.2222222222222222 /* saddle.rng._LOG_COEFFS[3] */
#define LOG_L5 0.18181818181818182 /* saddle.rng._LOG_COEFFS[4] */
#define LOG_L6 0.15384615384615385 /* saddle.rng._LOG_COEFFS[5] */
#define LOG_L7 0.13333333333333333 /* saddle.rng._LOG_COEFFS[6] */
#define LOG_L8 0.11764705882352941 /* saddle.rng._LOG_COEFFS[7] */
#define LOG_L9 0.10526315789473684 /* saddle.rng._LOG_COEFFS[8] */
#define SIN_S1 -0.16666666666666666 /* saddle.rng._SIN_COEFFS[0] */
#define SIN_S2 0.008333333333333333 /* saddle.rng._SIN_COEFFS[1] */
#define SIN_S3 -0.0001984126984126984 /* saddle.rng._SIN_COEFFS[2] */
#define SIN_S4 2.7557319223985893e-06 /* saddle.rng._SIN_COEFFS[3] */
#define SIN_S5 -2.505210838544172e-08 /* saddle.rng._SIN_COEFFS[4] */
#define SIN_S6 1.6059043836821613e-10 /* saddle.rng._SIN_COEFFS[5] */
#define SIN_S7 -7.647163731819816e-13 /* saddle.rng._SIN_COEFFS[6] */
#define SIN_S8 2.8114572543455206e-15 /* saddle.rng._SIN_COEFFS[7] */
#define COS_C1 0.041666666666666664 /* saddle.rng._COS_COEFFS[0] */
#define COS_C2 -0.001388888888888889 /* saddle.rng._COS_COEFFS[1] */
#define COS_C3 2.48015873015873e-05 /* saddle.rng._COS_COEFFS[2] */
#define COS_C4 -2.755731922398589e-07 /* saddle.rng._COS_COEFFS[3] */
#define COS_C5 2.08767569878681e-09 /* saddle.rng._COS_COEFFS[4] */
#define COS_C6 -1.1470745597729725e-11 /* saddle.rng._COS_COEFFS[5] */
#define COS_C7 4.779477332387385e-14 /* saddle.rng._COS_COEFFS[6] */
#define COS_C8 -1.5619206968586225e-16 /* saddle.rng._COS_COEFFS[7] */

/* ---------------------------------------------------------------------------------------------
 * Philox4x32-10 (Salmon, Moraes, Dror and Shaw, SC 2011), the bijection of cuRAND's Philox4_32_10
 * and randomgen's Philox(number=4, width=32); the stream layout of saddle.rng.
 * ------------------------------------------------------------------------------------------- */

typedef unsigned int u32;

#define PHILOX_M0 0xD2511F53U
#define PHILOX_M1 0xCD9E8D57U
#define PHILOX_W0 0x9E3779B9U
#define PHILOX_W1 0xBB67AE85U

/* Four 32-bit words (held in u32). */
typedef struct {
    u32 w0, w1, w2, w3;
} block4;

/* The 32 x 32 -> 64-bit product a b: returns the low word, stores the high word in *hi. */
SADDLE_DEVICE u32 mulhilo32(u32 a, u32 b, u32 *hi)
{
#ifdef __CUDACC__
    *hi = __umulhi(a, b);
    return a * b;
#else
    u64 p = (u64)a * (u64)b;
    *hi = (u32)(p >> 32);
    return (u32)p;
#endif
}

/* Philox4x32-10 of counter (c0, c1, c2, c3) under key (k0, k1) (saddle.rng.philox4x32). */
SADDLE_DEVICE block4 philox4x32(u32 c0, u32 c1, u32 c2, u32 c3, u32 k0, u32 k1)
{
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        u32 hi0, hi1;
        u32 lo0 = mulhilo32(PHILOX_M0, c0, &hi0);
        u32 lo1 = mulhilo32(PHILOX_M1, c2, &hi1);
        u32 n0 = hi1 ^ c1 ^ k0;
        u32 n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    block4 out = {c0, c1, c2, c3};
    return out;
}

/* Block j (0-based) of the stream (seed, trial, t, m, purpose): key (seed mod 2^32, seed / 2^32),
 * counter (j + 1, trial, t, purpose 2^30 + m - 1) (saddle.rng.stream_block). */
SADDLE_DEVICE block4 stream_block(u64 seed, u64 trial, i64 t, i64 m, i64 purpose, u64 j)
{
    return philox4x32((u32)(j + 1), (u32)trial, (u32)t, (u32)(((u64)purpose << 30) | (u64)(m - 1)), (u32)seed,
                      (u32)(seed >> 32));
}

/* 32-bit word `lane` (0..3) of a block, by selects (no dynamic indexing: the block stays in registers). */
SADDLE_DEVICE u64 block_word(block4 b, int lane)
{
    return lane < 2 ? (lane == 0 ? b.w0 : b.w1) : (lane == 2 ? b.w2 : b.w3);
}

/* 64-bit word q (0 or 1) of a block: word 2q + 2^32 word 2q + 1 (saddle.rng.double_word). */
SADDLE_DEVICE u64 double_word(block4 b, int q)
{
    return q == 0 ? ((u64)b.w0 | ((u64)b.w1 << 32)) : ((u64)b.w2 | ((u64)b.w3 << 32));
}

/* Uniform variate on (0, 1) from the top 53 bits of a 64-bit word. */
SADDLE_DEVICE double open_uniform(u64 w)
{
    return ((double)(w >> 11) + 0.5) * TWO_M53;
}

/* Mean-0, variance-1 variate of distribution `dist` from a 32-bit word (saddle.rng.data_variate). */
SADDLE_DEVICE double data_variate(u64 h, i64 dist)
{
    if (dist == RADEMACHER)
        return 1.0 - 2.0 * (double)(h >> 31);
    double u = ((double)h + 0.5) * TWO_M32;
    if (dist == UNIFORM)
        return SQRT3 * (2.0 * u - 1.0);
    /* LAPLACE with scale 1/sqrt 2 */
    double v = u - 0.5;
    if (v < 0.0)
        return INV_SQRT2 * log(1.0 + 2.0 * v);
    return -INV_SQRT2 * log(1.0 - 2.0 * v);
}

/* The IEEE 754 bits of a double, as an i64, and back (bit casts). */
SADDLE_DEVICE i64 float_bits(double x)
{
#ifdef __CUDACC__
    return __double_as_longlong(x);
#else
    union {
        double d;
        i64 i;
    } v;
    v.d = x;
    return v.i;
#endif
}

SADDLE_DEVICE double bits_float(i64 b)
{
#ifdef __CUDACC__
    return __longlong_as_double(b);
#else
    union {
        double d;
        i64 i;
    } v;
    v.i = b;
    return v.d;
#endif
}

/* log u for 0 < u <= 1 by plain arithmetic (saddle.rng.log_unit: the same operations, the same bits). */
SADDLE_DEVICE double log_unit(double u)
{
    i64 bits = float_bits(u);
    i64 e = (bits >> 52) - 1023;
    double y = bits_float((bits & 0xFFFFFFFFFFFFFLL) | 0x3FF0000000000000LL);
    int big = y > SQRT2;
    y = big ? 0.5 * y : y;
    e = big ? e + 1 : e;
    double f = y - 1.0;
    double hfsq = 0.5 * f * f;
    double s = f / (2.0 + f);
    double z = s * s;
    double r = z * (LOG_L1 + z * (LOG_L2 + z * (LOG_L3 + z * (LOG_L4 + z * (LOG_L5 + z * (LOG_L6 + z * (LOG_L7
               + z * (LOG_L8 + z * LOG_L9))))))));
    double dk = (double)e;
    return dk * LN2_HI - ((hfsq - (s * (hfsq + r) + dk * LN2_LO)) - f);
}

/* (cos 2 pi g, sin 2 pi g) for 0 < g <= 1 by plain arithmetic (saddle.rng.cos_sin_turn). */
SADDLE_DEVICE void cos_sin_turn(double g, double *c, double *s)
{
    double h = 8.0 * g;
    i64 o = (i64)h;
    double f = h - (double)o;
    int odd = (o & 1) == 1;
    f = odd ? 1.0 - f : f;
    double th = f * PI_4;
    double z = th * th;
    double sn = th + th * z * (SIN_S1 + z * (SIN_S2 + z * (SIN_S3 + z * (SIN_S4 + z * (SIN_S5 + z * (SIN_S6
                + z * (SIN_S7 + z * SIN_S8)))))));
    double cs = 1.0 - (0.5 * z - z * z * (COS_C1 + z * (COS_C2 + z * (COS_C3 + z * (COS_C4 + z * (COS_C5
                + z * (COS_C6 + z * (COS_C7 + z * COS_C8))))))));
    double x0 = odd ? sn : cs;
    double y0 = odd ? cs : sn;
    int quarter = (o & 2) != 0;
    double x1 = quarter ? -y0 : x0;
    double y1 = quarter ? x0 : y0;
    int half = (o & 4) != 0;
    *c = half ? -x1 : x1;
    *s = half ? -y1 : y1;
}

/* Two standard normals from two 64-bit words: Box-Muller on their 53-bit uniforms (saddle.rng.normal_pair). */
SADDLE_DEVICE void normal_pair(u64 w0, u64 w1, double *a, double *b)
{
    double r = sqrt(-2.0 * log_unit(open_uniform(w0)));
    double c, s;
    cos_sin_turn(open_uniform(w1), &c, &s);
    *a = r * c;
    *b = r * s;
}

/* out[k] = standard normal k of the stream (t, m, purpose), k < d (saddle.rng.fill_normals): block j
 * gives normals 2 j and 2 j + 1. */
SADDLE_DEVICE void fill_normals(u64 key0, u64 key1, i64 t, i64 m, i64 purpose, double *out, i64 d, i64 vs)
{
    u64 j = 0;
    for (i64 k = 0; k < d; k += 2) {
        block4 b = stream_block(key0, key1, t, m, purpose, j);
        j += 1;
        double a, bb;
        normal_pair(double_word(b, 0), double_word(b, 1), &a, &bb);
        out[k * vs] = a;
        if (k + 1 < d)
            out[(k + 1) * vs] = bb;
    }
}

/* ---------------------------------------------------------------------------------------------
 * spike (docs/objectives.md): f(u) = -sum_l (a_l.u)^4; pf = [kappa], pa = A (d x d, row-major),
 * pi = [distribution code, rotated].  saddle/objectives/spike.py.
 * ------------------------------------------------------------------------------------------- */

/* out = A^T v (transpose: the coordinates a_l.v) or A v; rotated frames only. */
SADDLE_DEVICE void frame_matvec(const double *A, int transpose, const double *v, double *out, i64 d, i64 vs)
{
    for (i64 i = 0; i < d; i++) {
        double acc = 0.0;
        for (i64 k = 0; k < d; k++)
            acc += (transpose ? A[k * d + i] : A[i * d + k]) * v[k * vs];
        out[i * vs] = acc;
    }
}

SADDLE_DEVICE double spike_value(const double *u, const double *A, int rotated, double *work, i64 d, i64 vs)
{
    const double *c = u; /* the identity frame: a_l.u = u_l */
    if (rotated) {
        frame_matvec(A, 1, u, work, d, vs);
        c = work;
    }
    double f = 0.0;
    for (i64 l = 0; l < d; l++) {
        double c2 = c[l * vs] * c[l * vs];
        f -= c2 * c2;
    }
    return f;
}

/* g = -4 sum_l (a_l.u)^3 a_l, the gradient that gd uses. */
SADDLE_DEVICE void spike_exact_gradient(const double *u, const double *A, int rotated, double *work, double *g,
                                        i64 d, i64 vs)
{
    if (rotated)
        frame_matvec(A, 1, u, work, d, vs);
    for (i64 l = 0; l < d; l++) {
        double w = rotated ? work[l * vs] : u[l * vs];
        w = -4.0 * w * w * w;
        if (rotated)
            work[l * vs] = w;
        else
            g[l * vs] = w;
    }
    if (rotated)
        frame_matvec(A, 0, work, g, d, vs);
}

/* Mean of m per-sample gradients (12 ||u||^2 u - 4 (u.x)^3 x) / kappa, x = A z drawn for step t
 * from the DATA stream: coordinate k of sample i is 32-bit word i d + k.  Nothing of size m x d. */
SADDLE_DEVICE void spike_minibatch_gradient(const double *u, const double *A, int rotated, double kappa, i64 dist,
                                            u64 key0, u64 key1, i64 t, i64 m, double *z, double *x, double *g,
                                            i64 d, i64 vs)
{
    double norm2 = 0.0;
    for (i64 k = 0; k < d; k++) {
        norm2 += u[k * vs] * u[k * vs];
        g[k * vs] = 0.0;
    }
    u64 j = 0;
    int lane = 4;
    block4 b = {0, 0, 0, 0};
    const double *xs = rotated ? x : z; /* x = z in the identity frame */
    for (i64 i = 0; i < m; i++) {
        for (i64 k = 0; k < d; k++) {
            if (lane == 4) {
                b = stream_block(key0, key1, t, m, DATA, j);
                j += 1;
                lane = 0;
            }
            z[k * vs] = data_variate(block_word(b, lane), dist);
            lane += 1;
        }
        if (rotated) {
            for (i64 k = 0; k < d; k++) {
                double acc = 0.0;
                for (i64 l = 0; l < d; l++)
                    acc += A[k * d + l] * z[l * vs];
                x[k * vs] = acc;
            }
        }
        double c = 0.0;
        for (i64 k = 0; k < d; k++)
            c += u[k * vs] * xs[k * vs];
        double c3 = c * c * c;
        for (i64 k = 0; k < d; k++)
            g[k * vs] += c3 * xs[k * vs];
    }
    double scale = -4.0 / ((double)m * kappa);
    for (i64 k = 0; k < d; k++)
        g[k * vs] = scale * g[k * vs] + (12.0 / kappa) * norm2 * u[k * vs];
}

/* ---------------------------------------------------------------------------------------------
 * quadratic (docs/objectives.md): f(x) = 1/2 sum_i h_i x_i^2 + beta/4 ||x||^4; pf = [beta], pa = rows [h; L]
 * ((d + 1) x d, row-major, L the lower Cholesky factor of Sigma).  saddle/objectives/quadratic.py.
 * ------------------------------------------------------------------------------------------- */

SADDLE_DEVICE double quadratic_value(const double *x, const double *pf, const double *pa, i64 d, i64 vs)
{
    double quad = 0.0;
    double norm2 = 0.0;
    for (i64 i = 0; i < d; i++) {
        quad += pa[i] * x[i * vs] * x[i * vs];
        norm2 += x[i * vs] * x[i * vs];
    }
    return 0.5 * quad + 0.25 * pf[0] * norm2 * norm2;
}

/* g = H x + beta ||x||^2 x. */
SADDLE_DEVICE void quadratic_exact_gradient(const double *x, const double *pf, const double *pa, double *g, i64 d,
                                            i64 vs)
{
    double norm2 = 0.0;
    for (i64 i = 0; i < d; i++)
        norm2 += x[i * vs] * x[i * vs];
    for (i64 i = 0; i < d; i++)
        g[i * vs] = pa[i] * x[i * vs] + pf[0] * norm2 * x[i * vs];
}

/* grad f(x) + L xi / sqrt(m), xi the d normals of the DATA stream of step t. */
SADDLE_DEVICE void quadratic_minibatch_gradient(const double *x, const double *pf, const double *pa, u64 key0,
                                                u64 key1, i64 t, i64 m, double *xi, double *g, i64 d, i64 vs)
{
    fill_normals(key0, key1, t, m, DATA, xi, d, vs);
    quadratic_exact_gradient(x, pf, pa, g, d, vs);
    double scale = 1.0 / sqrt((double)m);
    for (i64 i = 0; i < d; i++) {
        double acc = 0.0;
        for (i64 k = 0; k < i + 1; k++) /* L is lower triangular: pa[1 + i, k] = L[i, k] */
            acc += pa[(1 + i) * d + k] * xi[k * vs];
        g[i * vs] += scale * acc;
    }
}

/* ---------------------------------------------------------------------------------------------
 * ge2015 (docs/objectives.md): f(U) = sum_l [(sum_i c_li^2)^2 - sum_i c_li^4], c_li = a_l.u_i, on the product
 * of k spheres; the state is U flat column by column (u_i = u[i dc .. (i + 1) dc - 1], n = dc k).
 * pf = [kappa], pa = A (dc x dc), pi = [distribution code, rotated, k, sampling].
 * saddle/objectives/ge2015.py.
 * ------------------------------------------------------------------------------------------- */

/* c_li = a_l.u_i. */
SADDLE_DEVICE double ge_coordinate(const double *u, const double *A, int rotated, i64 i, i64 l, i64 dc, i64 vs)
{
    if (rotated) {
        double c = 0.0;
        for (i64 r = 0; r < dc; r++)
            c += A[r * dc + l] * u[(i * dc + r) * vs];
        return c;
    }
    return u[(i * dc + l) * vs];
}

SADDLE_DEVICE double ge_value(const double *u, const double *A, int rotated, i64 k, i64 n, i64 vs)
{
    i64 dc = n / k;
    double f = 0.0;
    for (i64 l = 0; l < dc; l++) {
        double S = 0.0;
        double Q = 0.0;
        for (i64 i = 0; i < k; i++) {
            double c = ge_coordinate(u, A, rotated, i, l, dc, vs);
            double c2 = c * c;
            S += c2;
            Q += c2 * c2;
        }
        f += S * S - Q;
    }
    return f;
}

/* g_i = 4 sum_l c_li (S_l - c_li^2) a_l; work holds n doubles. */
SADDLE_DEVICE void ge_exact_gradient(const double *u, const double *A, int rotated, i64 k, double *work, double *g,
                                     i64 n, i64 vs)
{
    i64 dc = n / k;
    for (i64 l = 0; l < dc; l++)
        for (i64 i = 0; i < k; i++)
            work[(i * dc + l) * vs] = ge_coordinate(u, A, rotated, i, l, dc, vs);
    for (i64 l = 0; l < dc; l++) {
        double S = 0.0;
        for (i64 i = 0; i < k; i++)
            S += work[(i * dc + l) * vs] * work[(i * dc + l) * vs];
        for (i64 i = 0; i < k; i++) {
            double c = work[(i * dc + l) * vs];
            work[(i * dc + l) * vs] = 4.0 * c * (S - c * c);
        }
    }
    for (i64 i = 0; i < k; i++)
        for (i64 r = 0; r < dc; r++) {
            if (rotated) {
                double acc = 0.0;
                for (i64 l = 0; l < dc; l++)
                    acc += A[r * dc + l] * work[(i * dc + l) * vs];
                g[(i * dc + r) * vs] = acc;
            } else {
                g[(i * dc + r) * vs] = work[(i * dc + r) * vs];
            }
        }
}

/* Mean per-sample gradient (docs/objectives.md, ge2015) of the mini-batch of step t, every column.  shared: samples
 * 0 .. m - 1 of the DATA stream serve every column; per-column: column i uses samples i m .. (i + 1) m - 1
 * (sample q, coordinate r is half-word q dc + r).  x[dc .. dc + k - 1] holds c = U^T x. */
SADDLE_DEVICE void ge_minibatch_gradient(const double *u, const double *A, int rotated, double kappa, i64 dist,
                                         i64 k, i64 sampling, u64 key0, u64 key1, i64 t, i64 m, double *z,
                                         double *x, double *g, i64 n, i64 vs)
{
    i64 dc = n / k;
    for (i64 q = 0; q < n; q++)
        g[q * vs] = 0.0;
    u64 j = 0;
    int lane = 4;
    block4 b = {0, 0, 0, 0};
    const double *xs = rotated ? x : z; /* x = z in the identity frame */
    i64 columns = sampling == PER_COLUMN ? k : 1;
    for (i64 col = 0; col < columns; col++) {
        for (i64 r = 0; r < m; r++) {
            for (i64 q = 0; q < dc; q++) {
                if (lane == 4) {
                    b = stream_block(key0, key1, t, m, DATA, j);
                    j += 1;
                    lane = 0;
                }
                z[q * vs] = data_variate(block_word(b, lane), dist);
                lane += 1;
            }
            if (rotated) {
                for (i64 q = 0; q < dc; q++) {
                    double acc = 0.0;
                    for (i64 l = 0; l < dc; l++)
                        acc += A[q * dc + l] * z[l * vs];
                    x[q * vs] = acc;
                }
            }
            double S = 0.0;
            for (i64 i = 0; i < k; i++) {
                double c = 0.0;
                for (i64 q = 0; q < dc; q++)
                    c += u[(i * dc + q) * vs] * xs[q * vs];
                x[(dc + i) * vs] = c;
                S += c * c;
            }
            i64 lo = sampling == PER_COLUMN ? col : 0;
            i64 hi = sampling == PER_COLUMN ? col + 1 : k;
            for (i64 i = lo; i < hi; i++) {
                double c = x[(dc + i) * vs];
                double w = c * (S - c * c);
                for (i64 q = 0; q < dc; q++)
                    g[(i * dc + q) * vs] += w * xs[q * vs];
            }
        }
    }
    /* g_i = (4/kappa) [G_i / m - (N - n_i) u_i - 2 sum_{j != i} (u_i.u_j) u_j] */
    double N = 0.0;
    for (i64 q = 0; q < n; q++)
        N += u[q * vs] * u[q * vs];
    double scale = 4.0 / kappa;
    for (i64 i = 0; i < k; i++) {
        double n_i = 0.0;
        for (i64 q = 0; q < dc; q++)
            n_i += u[(i * dc + q) * vs] * u[(i * dc + q) * vs];
        for (i64 q = 0; q < dc; q++)
            g[(i * dc + q) * vs] = g[(i * dc + q) * vs] / (double)m - (N - n_i) * u[(i * dc + q) * vs];
        for (i64 jj = 0; jj < k; jj++) {
            if (jj == i)
                continue;
            double dot = 0.0;
            for (i64 q = 0; q < dc; q++)
                dot += u[(i * dc + q) * vs] * u[(jj * dc + q) * vs];
            for (i64 q = 0; q < dc; q++)
                g[(i * dc + q) * vs] -= 2.0 * dot * u[(jj * dc + q) * vs];
        }
        for (i64 q = 0; q < dc; q++)
            g[(i * dc + q) * vs] *= scale;
    }
}

/* ---------------------------------------------------------------------------------------------
 * The trial: saddle/kernels/cpu.py (objective_value, gradient, _tangent_noise, _record, run_trial).
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    i64 objective, manifold, optimizer, m;
    i64 d;  /* length of the state vector (d k for ge2015) */
    i64 bs; /* length of each sphere block: d, or d / k for ge2015's k spheres (cpu.block_size) */
    i64 vs; /* stride of the per-thread vectors */
    const double *pf, *pa;
    const i64 *pi;
    u64 key0, key1;
} trial_setup;

SADDLE_DEVICE double objective_value(const trial_setup *s, const double *u, double *work)
{
    if (OBJECTIVE(s) == SPIKE)
        return spike_value(u, s->pa, s->pi[1] != 0, work, s->d, s->vs);
    if (OBJECTIVE(s) == GE2015)
        return ge_value(u, s->pa, s->pi[1] != 0, s->pi[2], s->d, s->vs);
    return quadratic_value(u, s->pf, s->pa, s->d, s->vs);
}

/* The exact gradient (exact != 0) or the mean of m per-sample gradients of step t, into g. */
SADDLE_DEVICE void gradient(const trial_setup *s, int exact, const double *u, i64 t, double *z, double *x, double *g)
{
    if (OBJECTIVE(s) == SPIKE) {
        if (exact)
            spike_exact_gradient(u, s->pa, s->pi[1] != 0, z, g, s->d, s->vs);
        else
            spike_minibatch_gradient(u, s->pa, s->pi[1] != 0, s->pf[0], s->pi[0], s->key0, s->key1, t, s->m, z, x,
                                     g, s->d, s->vs);
    } else if (OBJECTIVE(s) == GE2015) {
        if (exact)
            ge_exact_gradient(u, s->pa, s->pi[1] != 0, s->pi[2], z, g, s->d, s->vs);
        else
            ge_minibatch_gradient(u, s->pa, s->pi[1] != 0, s->pf[0], s->pi[0], s->pi[2], s->pi[3], s->key0,
                                  s->key1, t, s->m, z, x, g, s->d, s->vs);
    } else {
        if (exact)
            quadratic_exact_gradient(u, s->pf, s->pa, g, s->d, s->vs);
        else
            quadratic_minibatch_gradient(u, s->pf, s->pa, s->key0, s->key1, t, s->m, z, g, s->d, s->vs);
    }
}

/* xi uniform on the unit sphere of the tangent space at u, from the NOISE stream (on a product of
 * spheres, the product of the blocks' tangent spaces). */
SADDLE_DEVICE void tangent_noise(const trial_setup *s, const double *u, i64 t, double *noise)
{
    i64 d = s->d, bs = s->bs, vs = s->vs;
    fill_normals(s->key0, s->key1, t, s->m, NOISE, noise, d, vs);
    if (s->manifold == SPHERE) {
        for (i64 lo = 0; lo < d; lo += bs) {
            double dot = 0.0;
            for (i64 k = lo; k < lo + bs; k++)
                dot += u[k * vs] * noise[k * vs];
            for (i64 k = lo; k < lo + bs; k++)
                noise[k * vs] -= dot * u[k * vs];
        }
    }
    double norm2 = 0.0;
    for (i64 k = 0; k < d; k++)
        norm2 += noise[k * vs] * noise[k * vs];
    double inv = 1.0 / sqrt(norm2);
    for (i64 k = 0; k < d; k++)
        noise[k * vs] *= inv;
}

/* out = g - (u_b . g_b) u_b on each sphere block b (out = g on R^d); returns ||out||. */
SADDLE_DEVICE double riemannian(const trial_setup *s, const double *u, const double *g, double *out)
{
    i64 d = s->d, bs = s->bs, vs = s->vs;
    int sphere = s->manifold == SPHERE;
    double norm2 = 0.0;
    for (i64 lo = 0; lo < d; lo += bs) {
        double ug = 0.0;
        if (sphere)
            for (i64 k = lo; k < lo + bs; k++)
                ug += u[k * vs] * g[k * vs];
        for (i64 k = lo; k < lo + bs; k++) {
            out[k * vs] = g[k * vs] - ug * u[k * vs];
            norm2 += out[k * vs] * out[k * vs];
        }
    }
    return sqrt(norm2);
}

/* u <- R_u(scale v): u + scale v, then each sphere block normalised (nothing on R^d). */
SADDLE_DEVICE void retract(const trial_setup *s, double *u, const double *v, double scale)
{
    i64 d = s->d, bs = s->bs, vs = s->vs;
    int sphere = s->manifold == SPHERE;
    for (i64 lo = 0; lo < d; lo += bs) {
        double norm2 = 0.0;
        for (i64 k = lo; k < lo + bs; k++) {
            u[k * vs] = u[k * vs] + scale * v[k * vs];
            norm2 += u[k * vs] * u[k * vs];
        }
        if (sphere) {
            double inv = 1.0 / sqrt(norm2);
            for (i64 k = lo; k < lo + bs; k++)
                u[k * vs] *= inv;
        }
    }
}

/* Store f(u_t) at t = 0, stride, 2 stride, ...; halve the resolution when the row is full. */
SADDLE_DEVICE void record(double *row, i64 points, i64 *count, i64 *stride, i64 t, double value)
{
    if (t % *stride != 0)
        return;
    if (*count == points) {
        i64 half = *count / 2;
        for (i64 i = 0; i < half; i++)
            row[i] = row[2 * i];
        *count = half;
        *stride *= 2;
        if (t % *stride != 0)
            return;
    }
    row[*count] = value;
    *count += 1;
}

/* One trajectory (saddle/kernels/cpu.py::run_trial), from u0 or, with random_start, from a point uniform
 * on the sphere (each block) drawn from the START stream; u holds the final point.  Escape: f(u_t) <= target
 * when target is finite, else ||u_t - start|| >= radius when radius > 0, else f(u_t) <= f(start) - delta.
 * po = [sigma_iso, momentum beta,
 * perturbation radius r, g_thres, t_thres, cnc step size].  Per step t, p is the Riemannian gradient
 * of the mini-batch gradient (sgd, noisy-sgd, momentum) or of the exact one (gd, pgd, cnc-pgd):
 * sgd, gd: u <- R_u(-eta p); noisy-sgd: p += sigma_iso xi; momentum: v <- beta v + p, u <- R_u(-eta v),
 * v projected onto the new tangent space; pgd: when ||p|| <= g_thres and more than t_thres steps
 * passed since the last perturbation, u <- R_u(xi), xi uniform in the tangent ball of radius r, before
 * the gradient step; cnc-pgd: under the same condition one mini-batch step of the cnc step size. */
/* ---------------------------------------------------------------------------------------------
 * The optimisers' sections: one step each, as the step hook of its module in saddle/optimizers/
 * (the same operations in the same order).  A step moves u and returns 1 only at an exact fixed point
 * (gd with a constant step).  Scratch: g (the gradient), p (its Riemannian part), z, x, noise; state:
 * velocity (momentum) and *t_noise (pgd, cnc-pgd: the step of the last perturbation).
 * ------------------------------------------------------------------------------------------- */

typedef struct {
    double *g, *p, *z, *x, *noise, *velocity;
    i64 t_noise;
} step_work;

/* saddle/optimizers/sgd.py */
SADDLE_DEVICE int sgd_step(const trial_setup *s, i64 t, double eta, double *u, step_work *w)
{
    gradient(s, 0, u, t, w->z, w->x, w->g);
    riemannian(s, u, w->g, w->p);
    retract(s, u, w->p, -eta);
    return 0;
}

/* saddle/optimizers/gd.py (escape.cu has no schedules: the step size is constant, so a step that leaves
 * u unchanged bit for bit is a fixed point for ever) */
SADDLE_DEVICE int gd_step(const trial_setup *s, i64 t, double eta, double *u, step_work *w)
{
    i64 d = s->d, vs = s->vs;
    gradient(s, 1, u, t, w->z, w->x, w->g);
    riemannian(s, u, w->g, w->p);
    for (i64 k = 0; k < d; k++)
        w->x[k * vs] = u[k * vs];
    retract(s, u, w->p, -eta);
    for (i64 k = 0; k < d; k++)
        if (u[k * vs] != w->x[k * vs])
            return 0;
    return 1;
}

/* saddle/optimizers/noisy_sgd.py */
SADDLE_DEVICE int noisy_sgd_step(const trial_setup *s, i64 t, double eta, const double *po, double *u, step_work *w)
{
    i64 d = s->d, vs = s->vs;
    gradient(s, 0, u, t, w->z, w->x, w->g);
    riemannian(s, u, w->g, w->p);
    tangent_noise(s, u, t, w->noise);
    for (i64 k = 0; k < d; k++)
        w->p[k * vs] += po[PO_SIGMA_ISO] * w->noise[k * vs];
    retract(s, u, w->p, -eta);
    return 0;
}

/* saddle/optimizers/momentum.py */
SADDLE_DEVICE int momentum_step(const trial_setup *s, i64 t, double eta, const double *po, double *u, step_work *w)
{
    i64 d = s->d, vs = s->vs;
    gradient(s, 0, u, t, w->z, w->x, w->g);
    riemannian(s, u, w->g, w->p);
    for (i64 k = 0; k < d; k++)
        w->velocity[k * vs] = po[PO_MOMENTUM] * w->velocity[k * vs] + w->p[k * vs];
    retract(s, u, w->velocity, -eta);
    riemannian(s, u, w->velocity, w->x); /* transport: project onto the new tangent space */
    for (i64 k = 0; k < d; k++)
        w->velocity[k * vs] = w->x[k * vs];
    return 0;
}

/* saddle/optimizers/pgd.py */
SADDLE_DEVICE int pgd_step(const trial_setup *s, i64 t, double eta, const double *po, double *u, step_work *w)
{
    i64 d = s->d, bs = s->bs;
    gradient(s, 1, u, t, w->z, w->x, w->g);
    double grad_norm = riemannian(s, u, w->g, w->p);
    if (grad_norm <= po[PO_GRAD_THRESHOLD] && t - w->t_noise > po[PO_T_THRESHOLD]) {
        w->t_noise = t; /* u <- R_u(xi), xi uniform in the tangent ball of radius r */
        i64 tangent_dim = s->manifold == SPHERE ? d - d / bs : d;
        tangent_noise(s, u, t, w->noise);
        block4 b = stream_block(s->key0, s->key1, t, s->m, PERTURB, 0);
        retract(s, u, w->noise,
                po[PO_PERTURBATION_RADIUS] * pow(open_uniform(double_word(b, 0)), 1.0 / (double)tangent_dim));
        gradient(s, 1, u, t, w->z, w->x, w->g);
        riemannian(s, u, w->g, w->p);
    }
    retract(s, u, w->p, -eta);
    return 0;
}

/* saddle/optimizers/cnc_pgd.py */
SADDLE_DEVICE int cnc_pgd_step(const trial_setup *s, i64 t, double eta, const double *po, double *u, step_work *w)
{
    gradient(s, 1, u, t, w->z, w->x, w->g);
    double grad_norm = riemannian(s, u, w->g, w->p);
    double step = eta;
    if (grad_norm <= po[PO_GRAD_THRESHOLD] && t - w->t_noise > po[PO_T_THRESHOLD]) {
        w->t_noise = t; /* one mini-batch step of the larger step size */
        gradient(s, 0, u, t, w->z, w->x, w->g);
        riemannian(s, u, w->g, w->p);
        step = po[PO_CNC_ETA];
    }
    retract(s, u, w->p, -step);
    return 0;
}

/* The run's optimiser: its section's code is a compile-time constant under SADDLE_OPTIMIZER. */
SADDLE_DEVICE int optimizer_step(const trial_setup *s, i64 t, double eta, const double *po, double *u, step_work *w)
{
    switch (OPTIMIZER(s)) {
    case SGD:
        return sgd_step(s, t, eta, u, w);
    case GD:
        return gd_step(s, t, eta, u, w);
    case NOISY_SGD:
        return noisy_sgd_step(s, t, eta, po, u, w);
    case MOMENTUM:
        return momentum_step(s, t, eta, po, u, w);
    case PGD:
        return pgd_step(s, t, eta, po, u, w);
    default: /* CNC_PGD */
        return cnc_pgd_step(s, t, eta, po, u, w);
    }
}

SADDLE_DEVICE void run_trial(const trial_setup *s, const double *u0, double eta, const double *po, double delta,
                             double radius, double target, i64 random_start, i64 max_steps, double *u, double *g,
                             double *p, double *z, double *x, double *noise, double *velocity, double *start,
                             double *rec_row, i64 rec_points, i64 *rec_count, i64 *rec_stride, i64 *steps_out,
                             signed char *status_out, double *final_f_out)
{
    i64 d = s->d, vs = s->vs;
    int sphere = s->manifold == SPHERE;
    for (i64 k = 0; k < d; k++)
        start[k * vs] = u0[k];
    if (random_start && !sphere) { /* R^d: uniform in the box [-1, 1]^d (saddle.rng.fill_uniforms) */
        for (i64 k = 0; k < d; k += 2) {
            block4 b = stream_block(s->key0, s->key1, 0, s->m, START, (u64)(k / 2));
            for (int q = 0; q < 2 && k + q < d; q++)
                start[(k + q) * vs] = 2.0 * open_uniform(double_word(b, q)) - 1.0;
        }
    } else if (random_start) { /* uniform on each sphere block: normalised standard normals */
        fill_normals(s->key0, s->key1, 0, s->m, START, start, d, vs);
        retract(s, start, start, 0.0);
    }
    for (i64 k = 0; k < d; k++) {
        u[k * vs] = start[k * vs];
        velocity[k * vs] = 0.0;
    }
    step_work w = {g, p, z, x, noise, velocity, -((i64)1 << 62)};
    double f0 = objective_value(s, u, z);
    i64 count = 0, stride = 1;
    if (rec_row)
        record(rec_row, rec_points, &count, &stride, 0, f0);
    double f = f0;
    i64 steps = max_steps;
    signed char status = CENSORED;
    for (i64 t = 1; t <= max_steps; t++) {
        int frozen = optimizer_step(s, t, eta, po, u, &w);
        f = objective_value(s, u, z);
        if (!isfinite(f)) {
            steps = t;
            status = DIVERGED;
            break;
        }
        if (rec_row)
            record(rec_row, rec_points, &count, &stride, t, f);
        if (isfinite(target)) {
            if (f <= target) {
                steps = t;
                status = ESCAPED;
                break;
            }
        } else if (radius > 0.0) {
            double dist2 = 0.0;
            for (i64 k = 0; k < d; k++) {
                double diff = u[k * vs] - start[k * vs];
                dist2 += diff * diff;
            }
            if (dist2 >= radius * radius) {
                steps = t;
                status = ESCAPED;
                break;
            }
        } else if (f <= f0 - delta) {
            steps = t;
            status = ESCAPED;
            break;
        }
        if (frozen) {
            steps = t;
            status = FROZEN;
            break;
        }
    }
    *steps_out = steps;
    *status_out = status;
    *final_f_out = f;
    if (rec_row) {
        *rec_count = count;
        *rec_stride = stride;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Kernels (one thread each) and, in C, their serial host entry points NAME_host.
 * ------------------------------------------------------------------------------------------- */

/* Trials trial0 .. trial0 + n - 1, thread r writing entry r of steps, status and final_f.
 * Trials rec_lo <= trial < rec_hi also record f(u_t) into row trial - rec_lo of rec_f
 * (rec_points columns) and of rec_count, rec_stride.  `work` holds N_VECTORS d n doubles unless
 * SADDLE_D is defined (then it is not read).  po: the optimiser's parameters (run_trial).  With keep_u,
 * row r of final_u (n x d) receives the final point. */
SADDLE_GLOBAL void escape_trials(i64 n, i64 trial0, u64 seed, i64 d, const double *u0, i64 objective,
                                 i64 manifold, const double *pf, const double *pa, const i64 *pi, i64 optimizer,
                                 i64 m, double eta, const double *po, double delta, double radius, double target,
                                 i64 random_start, i64 max_steps, i64 *steps, signed char *status, double *final_f,
                                 double *final_u, i64 keep_u, double *rec_f, i64 rec_lo, i64 rec_hi, i64 rec_points,
                                 i64 *rec_count, i64 *rec_stride, double *work)
{
    i64 r = SADDLE_THREAD_INDEX;
    if (r >= n)
        return;
    i64 trial = trial0 + r;
    trial_setup s;
    s.objective = objective;
    s.manifold = manifold;
    s.optimizer = optimizer;
    s.m = m;
    s.pf = pf;
    s.pa = pa;
    s.pi = pi;
    s.key0 = seed;
    s.key1 = (u64)trial;
#ifdef SADDLE_D
    (void)d;
    (void)work;
    double u[SADDLE_D], g[SADDLE_D], p[SADDLE_D], z[SADDLE_D], x[SADDLE_D], noise[SADDLE_D], velocity[SADDLE_D];
    double start[SADDLE_D];
    s.d = SADDLE_D;
    s.vs = 1;
#else
    double *u = work + 0 * d * n + r;
    double *g = work + 1 * d * n + r;
    double *p = work + 2 * d * n + r;
    double *z = work + 3 * d * n + r;
    double *x = work + 4 * d * n + r;
    double *noise = work + 5 * d * n + r;
    double *velocity = work + 6 * d * n + r;
    double *start = work + 7 * d * n + r;
    s.d = d;
    s.vs = n;
#endif
    s.bs = OBJECTIVE(&s) == GE2015 ? s.d / pi[2] : s.d;
    int recorded = trial >= rec_lo && trial < rec_hi;
    double *rec_row = recorded ? rec_f + (trial - rec_lo) * rec_points : 0;
    i64 *count = recorded ? rec_count + (trial - rec_lo) : 0;
    i64 *stride = recorded ? rec_stride + (trial - rec_lo) : 0;
    run_trial(&s, u0, eta, po, delta, radius, target, random_start, max_steps, u, g, p, z, x, noise, velocity, start,
              rec_row, rec_points, count, stride, steps + r, status + r, final_f + r);
    if (keep_u)
        for (i64 k = 0; k < s.d; k++)
            final_u[r * s.d + k] = u[k * s.vs];
}

/* Block j of the stream (seed, trial, t, m, purpose) into out[4 j .. 4 j + 3] (32-bit words), j < n_blocks. */
SADDLE_GLOBAL void philox_stream(i64 n_blocks, u64 seed, u64 trial, u64 t, u64 m, u64 purpose, u64 *out)
{
    i64 j = SADDLE_THREAD_INDEX;
    if (j >= n_blocks)
        return;
    block4 b = stream_block(seed, trial, (i64)t, (i64)m, (i64)purpose, (u64)j);
    out[4 * j] = b.w0;
    out[4 * j + 1] = b.w1;
    out[4 * j + 2] = b.w2;
    out[4 * j + 3] = b.w3;
}

/* Variate q < n of the stream (seed, trial, t, m, purpose): kind 0, the data variate of
 * distribution `dist` from 32-bit word q; kind 1, standard normal q (Box-Muller, two a block). */
SADDLE_GLOBAL void variate_stream(i64 n, i64 kind, i64 dist, u64 seed, u64 trial, u64 t, u64 m, u64 purpose,
                                  double *out)
{
    i64 q = SADDLE_THREAD_INDEX;
    if (q >= n)
        return;
    if (kind == 0) {
        block4 b = stream_block(seed, trial, (i64)t, (i64)m, (i64)purpose, (u64)(q / 4));
        out[q] = data_variate(block_word(b, (int)(q % 4)), dist);
    } else {
        block4 b = stream_block(seed, trial, (i64)t, (i64)m, (i64)purpose, (u64)(q / 2));
        double a, bb;
        normal_pair(double_word(b, 0), double_word(b, 1), &a, &bb);
        out[q] = q % 2 == 0 ? a : bb;
    }
}

#ifndef __CUDACC__
void escape_trials_host(i64 n, i64 trial0, u64 seed, i64 d, const double *u0, i64 objective, i64 manifold,
                        const double *pf, const double *pa, const i64 *pi, i64 optimizer, i64 m, double eta,
                        const double *po, double delta, double radius, double target, i64 random_start,
                        i64 max_steps, i64 *steps, signed char *status, double *final_f, double *final_u,
                        i64 keep_u, double *rec_f, i64 rec_lo, i64 rec_hi, i64 rec_points, i64 *rec_count,
                        i64 *rec_stride, double *work)
{
    for (i64 r = 0; r < n; r++) {
        saddle_thread_index = r;
        escape_trials(n, trial0, seed, d, u0, objective, manifold, pf, pa, pi, optimizer, m, eta, po, delta,
                      radius, target, random_start, max_steps, steps, status, final_f, final_u, keep_u, rec_f,
                      rec_lo, rec_hi, rec_points, rec_count, rec_stride, work);
    }
}

void philox_stream_host(i64 n_blocks, u64 seed, u64 trial, u64 t, u64 m, u64 purpose, u64 *out)
{
    for (i64 j = 0; j < n_blocks; j++) {
        saddle_thread_index = j;
        philox_stream(n_blocks, seed, trial, t, m, purpose, out);
    }
}

void variate_stream_host(i64 n, i64 kind, i64 dist, u64 seed, u64 trial, u64 t, u64 m, u64 purpose, double *out)
{
    for (i64 q = 0; q < n; q++) {
        saddle_thread_index = q;
        variate_stream(n, kind, dist, seed, trial, t, m, purpose, out);
    }
}
#endif
