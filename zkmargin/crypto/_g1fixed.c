/*
 * Fixed-base multi-scalar multiplication on BLS12-381 G1, for the verifier's generator columns.
 *
 * The verifier's largest MSM is <g, G> + <h, H>: thousands of scalars against the same generator
 * points every time. A variable-base MSM (Pippenger, what the binding's multiexp does) runs one
 * bucket pass per c-bit window of the scalars and pays the doublings between windows. With the
 * points fixed, each one can be stored once per window, already multiplied by 2^(c·j):
 *
 *     T[i][j] = 2^(c·j) · P_i           (j = 0 … W−1, W·c ≥ 256)
 *
 * and Σ_i k_i·P_i = Σ_i Σ_j d_ij·T[i][j] with k_i = Σ_j d_ij·2^(c·j), the signed c-bit digits
 * d_ij ∈ [−2^(c−1), 2^(c−1)]. That sum is ONE bucket pass over N·W terms with 2^(c−1) buckets
 * (a digit −d adds −T[i][j]) and no doublings:
 *
 *     S_d = Σ_{d_ij = ±d} ±T[i][j]       result = Σ_d d·S_d = Σ_{m} Σ_{d ≥ m} S_d
 *
 * (docs/notes/verification-at-scale.md, "Fixed-base generator columns").
 *
 * Field: F_p, p the 381-bit BLS12-381 base prime, six little-endian 64-bit limbs in Montgomery
 * form (x·2^384 mod p). Buckets are in XYZZ coordinates (x = X/ZZ, y = Y/ZZZ, ZZ³ = ZZZ²), which
 * add an affine table point in 8 products and 2 squares; the formulas are the Explicit-Formulas
 * Database's madd-2008-s, add-2008-s, dbl-2008-s-1 and mdbl-2008-s-1 for a = 0, with the equal
 * and opposite cases (P + P, P − P) handled explicitly.
 *
 * A table is a bytes object: N·W affine points, each x || y in Montgomery limbs (96 bytes), point
 * by point (T[i][0], …, T[i][W−1], T[i+1][0], …). It is built here from points given as the
 * binding's 96-byte little-endian affine encodings, each checked to be on the curve. The data is
 * public (generators and a verifier's scalars): nothing here runs in constant time, and the
 * prover must not call it with secret scalars. Every length and range is checked, so a malformed
 * call raises ValueError and never reads out of bounds. The work runs without the GIL.
 * zkmargin/crypto/fixed_base.py wraps this module; tests/test_fixed_base.py checks it against the
 * binding's MSM.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

/* p, little-endian limbs */
static const uint64_t P[6] = {0xb9feffffffffaaabULL, 0x1eabfffeb153ffffULL, 0x6730d2a0f6b0f624ULL,
                              0x64774b84f38512bfULL, 0x4b1ba7b6434bacd7ULL, 0x1a0111ea397fe69aULL};
/* −p⁻¹ mod 2^64 */
static const uint64_t INV = 0x89f3fffcfffcfffdULL;
/* 2^768 mod p: a Montgomery product with it enters Montgomery form */
static const uint64_t R2[6] = {0xf4df1f341c341746ULL, 0x0a76e6a609d104f1ULL, 0x8de5476c4c95b6d5ULL,
                               0x67eb88a9939d83c0ULL, 0x9a793e85b519952dULL, 0x11988fe592cae3aaULL};
/* 1 and 4 (the curve's b) in Montgomery form */
static const uint64_t MONT_ONE[6] = {0x760900000002fffdULL, 0xebf4000bc40c0002ULL, 0x5f48985753c758baULL,
                                     0x77ce585370525745ULL, 0x5c071a97a256ec6dULL, 0x15f65ec3fa80e493ULL};
static const uint64_t MONT_B[6] = {0xaa270000000cfff3ULL, 0x53cc0032fc34000aULL, 0x478fe97a6b0a807fULL,
                                   0xb1d37ebee6ba24d7ULL, 0x8ec9733bbf78ab2fULL, 0x09d645513d83de7eULL};

typedef struct {
    uint64_t l[6];
} fp;

typedef struct {
    fp x, y;
} affine;

/* XYZZ; the point at infinity has ZZ = 0 */
typedef struct {
    fp x, y, zz, zzz;
} xyzz;

#define FP_BYTES 48
#define AFFINE_BYTES 96
#define MAX_WINDOW 16

static inline int fp_is_zero(const fp *a) {
    return (a->l[0] | a->l[1] | a->l[2] | a->l[3] | a->l[4] | a->l[5]) == 0;
}

static inline int fp_eq(const fp *a, const fp *b) {
    return ((a->l[0] ^ b->l[0]) | (a->l[1] ^ b->l[1]) | (a->l[2] ^ b->l[2]) | (a->l[3] ^ b->l[3]) |
            (a->l[4] ^ b->l[4]) | (a->l[5] ^ b->l[5])) == 0;
}

static inline int geq_p(const uint64_t t[6]) {
    for (int i = 5; i >= 0; i--) {
        if (t[i] > P[i]) return 1;
        if (t[i] < P[i]) return 0;
    }
    return 1;
}

static inline void sub_p(uint64_t t[6]) {
    u128 borrow = 0;
    for (int i = 0; i < 6; i++) {
        u128 d = (u128)t[i] - P[i] - borrow;
        t[i] = (uint64_t)d;
        borrow = (d >> 64) & 1;
    }
}

/* a + b mod p (p < 2^382, so the sum fits in six limbs) */
static inline void fp_add(fp *out, const fp *a, const fp *b) {
    u128 c = 0;
    uint64_t t[6];
    for (int i = 0; i < 6; i++) {
        c += (u128)a->l[i] + b->l[i];
        t[i] = (uint64_t)c;
        c >>= 64;
    }
    if (geq_p(t)) sub_p(t);
    memcpy(out->l, t, sizeof t);
}

/* a − b mod p */
static inline void fp_sub(fp *out, const fp *a, const fp *b) {
    u128 borrow = 0;
    uint64_t t[6];
    for (int i = 0; i < 6; i++) {
        u128 d = (u128)a->l[i] - b->l[i] - borrow;
        t[i] = (uint64_t)d;
        borrow = (d >> 64) & 1;
    }
    if (borrow) {
        u128 c = 0;
        for (int i = 0; i < 6; i++) {
            c += (u128)t[i] + P[i];
            t[i] = (uint64_t)c;
            c >>= 64;
        }
    }
    memcpy(out->l, t, sizeof t);
}

static inline void fp_neg(fp *out, const fp *a) {
    if (fp_is_zero(a)) {
        *out = *a;
        return;
    }
    fp zero = {{0}};
    fp_sub(out, &zero, a);
}

/* a·b·2^−384 mod p (CIOS; a, b < p) */
static inline void fp_mul_portable(fp *out, const fp *a, const fp *b) {
    uint64_t t[8] = {0};
    for (int i = 0; i < 6; i++) {
        u128 c = 0;
        uint64_t bi = b->l[i];
        for (int j = 0; j < 6; j++) {
            c += (u128)a->l[j] * bi + t[j];
            t[j] = (uint64_t)c;
            c >>= 64;
        }
        c += t[6];
        t[6] = (uint64_t)c;
        t[7] = (uint64_t)(c >> 64);
        uint64_t m = t[0] * INV;
        c = (u128)m * P[0] + t[0];
        c >>= 64;
        for (int j = 1; j < 6; j++) {
            c += (u128)m * P[j] + t[j];
            t[j - 1] = (uint64_t)c;
            c >>= 64;
        }
        c += t[6];
        t[5] = (uint64_t)c;
        t[6] = t[7] + (uint64_t)(c >> 64);
    }
    if (t[6] || geq_p(t)) sub_p(t);
    memcpy(out->l, t, 6 * sizeof(uint64_t));
}

#if defined(__x86_64__) && defined(__GNUC__)
#define FP_HAVE_ADX_PATH 1
/* p's limbs, then −p⁻¹ mod 2^64, for the assembly */
static const uint64_t PINV[7] = {0xb9feffffffffaaabULL, 0x1eabfffeb153ffffULL, 0x6730d2a0f6b0f624ULL,
                                 0x64774b84f38512bfULL, 0x4b1ba7b6434bacd7ULL, 0x1a0111ea397fe69aULL,
                                 0x89f3fffcfffcfffdULL};
/* T_j += lo(x_j·rdx) on the OF chain, T_{j+1} += hi(x_j·rdx) on the CF chain */
#define FP_MULX(X, J, TJ, TJ1) \
    "mulxq " #J "*8(%[" X "]), %%rax, %%rbx\n\t" \
    "adoxq %%rax, %%" TJ "\n\t" \
    "adcxq %%rbx, %%" TJ1 "\n\t"
/* (T0 … T6) += X · rdx over six limbs, both carry chains closed into T6 */
#define FP_ROW(X, T0, T1, T2, T3, T4, T5, T6) \
    "xorl %%eax, %%eax\n\t" \
    FP_MULX(X, 0, T0, T1) FP_MULX(X, 1, T1, T2) FP_MULX(X, 2, T2, T3) \
    FP_MULX(X, 3, T3, T4) FP_MULX(X, 4, T4, T5) FP_MULX(X, 5, T5, T6) \
    "movl $0, %%eax\n\t" \
    "adoxq %%rax, %%" T6 "\n\t"
/* one CIOS round: t += a·b_i, then t += m·p with m = t0·(−p⁻¹), which zeroes T0 */
#define FP_ROUND(I, T0, T1, T2, T3, T4, T5, T6) \
    "movq " #I "*8(%[b]), %%rdx\n\t" \
    FP_ROW("a", T0, T1, T2, T3, T4, T5, T6) \
    "movq %%" T0 ", %%rdx\n\t" \
    "imulq 48(%[p]), %%rdx\n\t" \
    FP_ROW("p", T0, T1, T2, T3, T4, T5, T6)

/* the CIOS product with MULX and the two carry chains of ADCX (CF) and ADOX (OF), as in
 * fp_mul_portable; p < 2^382 leaves the top word room, so no eighth word is needed */
static inline void fp_mul_adx(fp *out, const fp *a, const fp *b) {
    uint64_t t[6];
    __asm__ volatile(
        "xorq %%r8, %%r8\n\t" "xorq %%r9, %%r9\n\t" "xorq %%r10, %%r10\n\t" "xorq %%r11, %%r11\n\t"
        "xorq %%r12, %%r12\n\t" "xorq %%r13, %%r13\n\t" "xorq %%r14, %%r14\n\t"
        /* the seven words rotate: each round's zeroed T0 is the next round's T6 */
        FP_ROUND(0, "r8", "r9", "r10", "r11", "r12", "r13", "r14")
        FP_ROUND(1, "r9", "r10", "r11", "r12", "r13", "r14", "r8")
        FP_ROUND(2, "r10", "r11", "r12", "r13", "r14", "r8", "r9")
        FP_ROUND(3, "r11", "r12", "r13", "r14", "r8", "r9", "r10")
        FP_ROUND(4, "r12", "r13", "r14", "r8", "r9", "r10", "r11")
        FP_ROUND(5, "r13", "r14", "r8", "r9", "r10", "r11", "r12")
        "movq %%r14, 0(%[o])\n\t" "movq %%r8, 8(%[o])\n\t" "movq %%r9, 16(%[o])\n\t"
        "movq %%r10, 24(%[o])\n\t" "movq %%r11, 32(%[o])\n\t" "movq %%r12, 40(%[o])\n\t"
        :
        : [a] "r"(a->l), [b] "r"(b->l), [p] "r"(PINV), [o] "r"(t)
        : "rax", "rbx", "rdx", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "cc", "memory");
    if (geq_p(t)) sub_p(t);
    memcpy(out->l, t, sizeof t);
}

static int cpu_has_adx(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("adx");
}

/* set at import when the processor has BMI2 (MULX) and ADX (ADCX, ADOX); tests switch it off to
 * run the portable product too */
static int use_adx = 0;
#endif

static inline void fp_mul(fp *out, const fp *a, const fp *b) {
#ifdef FP_HAVE_ADX_PATH
    if (use_adx) {
        fp_mul_adx(out, a, b);
        return;
    }
#endif
    fp_mul_portable(out, a, b);
}

static inline void fp_sqr(fp *out, const fp *a) { fp_mul(out, a, a); }

static inline void fp_dbl(fp *out, const fp *a) { fp_add(out, a, a); }

/* a^(p−2) = a⁻¹ (a ≠ 0); public data, so a plain square-and-multiply */
static void fp_inv(fp *out, const fp *a) {
    uint64_t e[6];
    memcpy(e, P, sizeof e);
    e[0] -= 2; /* p's lowest limb is far above 2 */
    fp acc;
    memcpy(acc.l, MONT_ONE, sizeof acc.l);
    for (int i = 5; i >= 0; i--) {
        for (int bit = 63; bit >= 0; bit--) {
            fp_sqr(&acc, &acc);
            if ((e[i] >> bit) & 1) fp_mul(&acc, &acc, a);
        }
    }
    *out = acc;
}

/* 48 little-endian bytes (canonical, < p) -> Montgomery form; 0 when not canonical */
static int fp_from_bytes(fp *out, const unsigned char *s) {
    uint64_t t[6];
    for (int i = 0; i < 6; i++) {
        uint64_t v = 0;
        for (int k = 7; k >= 0; k--) v = (v << 8) | s[8 * i + k];
        t[i] = v;
    }
    if (geq_p(t)) return 0;
    fp a, r2;
    memcpy(a.l, t, sizeof t);
    memcpy(r2.l, R2, sizeof r2.l);
    fp_mul(out, &a, &r2);
    return 1;
}

static void fp_to_bytes(unsigned char *s, const fp *a) {
    fp one = {{1, 0, 0, 0, 0, 0}}, t;
    fp_mul(&t, a, &one);
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < 8; k++) s[8 * i + k] = (unsigned char)(t.l[i] >> (8 * k));
}

/* ---- points ------------------------------------------------------------------------------ */

static inline void xyzz_set_inf(xyzz *p) { memset(p, 0, sizeof *p); }

static inline int xyzz_is_inf(const xyzz *p) { return fp_is_zero(&p->zz); }

/* 2·p in place (dbl-2008-s-1, a = 0): U = 2Y, V = U², W = U·V, S = X·V, M = 3X²,
 * X3 = M² − 2S, Y3 = M(S − X3) − W·Y, ZZ3 = V·ZZ, ZZZ3 = W·ZZZ. Y = 0 has no points of order
 * two on this curve's prime-order subgroup, but V = 0 then gives infinity anyway. */
static void xyzz_dbl(xyzz *p) {
    if (xyzz_is_inf(p)) return;
    fp u, v, w, s, m, t;
    fp_dbl(&u, &p->y);
    fp_sqr(&v, &u);
    fp_mul(&w, &u, &v);
    fp_mul(&s, &p->x, &v);
    fp_sqr(&t, &p->x);
    fp_dbl(&m, &t);
    fp_add(&m, &m, &t);
    fp_sqr(&t, &m);
    fp_sub(&t, &t, &s);
    fp_sub(&t, &t, &s); /* X3 */
    fp_sub(&s, &s, &t);
    fp_mul(&s, &m, &s);
    fp_mul(&m, &w, &p->y);
    fp_sub(&p->y, &s, &m);
    p->x = t;
    fp_mul(&p->zz, &p->zz, &v);
    fp_mul(&p->zzz, &p->zzz, &w);
}

/* 2·(x, y) for an affine point: the point with ZZ = ZZZ = 1, doubled (only the equal case of
 * xyzz_add_affine needs it, which the generators' tables almost never meet) */
static void xyzz_dbl_affine(xyzz *r, const affine *a) {
    r->x = a->x;
    r->y = a->y;
    memcpy(r->zz.l, MONT_ONE, sizeof r->zz.l);
    memcpy(r->zzz.l, MONT_ONE, sizeof r->zzz.l);
    xyzz_dbl(r);
}

/* p += (x, y), or p −= (x, y) when neg (madd-2008-s): U2 = x·ZZ1, S2 = y·ZZZ1, P = U2 − X1,
 * R = S2 − Y1, PP = P², PPP = P·PP, Q = X1·PP, X3 = R² − PPP − 2Q, Y3 = R(Q − X3) − Y1·PPP,
 * ZZ3 = ZZ1·PP, ZZZ3 = ZZZ1·PPP */
static void xyzz_add_affine(xyzz *p, const affine *a, int neg) {
    affine q;
    const affine *b = a;
    if (neg) {
        q.x = a->x;
        fp_neg(&q.y, &a->y);
        b = &q;
    }
    if (xyzz_is_inf(p)) {
        p->x = b->x;
        p->y = b->y;
        memcpy(p->zz.l, MONT_ONE, sizeof p->zz.l);
        memcpy(p->zzz.l, MONT_ONE, sizeof p->zzz.l);
        return;
    }
    fp u2, s2, pp_, ppp, q_, r, t;
    fp_mul(&u2, &b->x, &p->zz);
    fp_mul(&s2, &b->y, &p->zzz);
    fp_sub(&u2, &u2, &p->x); /* P */
    fp_sub(&r, &s2, &p->y);  /* R */
    if (fp_is_zero(&u2)) {
        if (fp_is_zero(&r))
            xyzz_dbl_affine(p, b); /* the same point */
        else
            xyzz_set_inf(p); /* its negation */
        return;
    }
    fp_sqr(&pp_, &u2);
    fp_mul(&ppp, &u2, &pp_);
    fp_mul(&q_, &p->x, &pp_);
    fp_sqr(&t, &r);
    fp_sub(&t, &t, &ppp);
    fp_sub(&t, &t, &q_);
    fp_sub(&t, &t, &q_); /* X3 */
    fp_sub(&q_, &q_, &t);
    fp_mul(&q_, &r, &q_);
    fp_mul(&s2, &p->y, &ppp);
    fp_sub(&p->y, &q_, &s2);
    p->x = t;
    fp_mul(&p->zz, &p->zz, &pp_);
    fp_mul(&p->zzz, &p->zzz, &ppp);
}

/* p += q (add-2008-s): U1 = X1·ZZ2, U2 = X2·ZZ1, S1 = Y1·ZZZ2, S2 = Y2·ZZZ1, P = U2 − U1,
 * R = S2 − S1, PP = P², PPP = P·PP, Q = U1·PP, X3 = R² − PPP − 2Q, Y3 = R(Q − X3) − S1·PPP,
 * ZZ3 = ZZ1·ZZ2·PP, ZZZ3 = ZZZ1·ZZZ2·PPP */
static void xyzz_add(xyzz *p, const xyzz *q) {
    if (xyzz_is_inf(q)) return;
    if (xyzz_is_inf(p)) {
        *p = *q;
        return;
    }
    fp u1, u2, s1, s2, pp_, ppp, q_, t;
    fp_mul(&u1, &p->x, &q->zz);
    fp_mul(&u2, &q->x, &p->zz);
    fp_mul(&s1, &p->y, &q->zzz);
    fp_mul(&s2, &q->y, &p->zzz);
    fp_sub(&u2, &u2, &u1); /* P */
    fp_sub(&s2, &s2, &s1); /* R */
    if (fp_is_zero(&u2)) {
        if (fp_is_zero(&s2))
            xyzz_dbl(p);
        else
            xyzz_set_inf(p);
        return;
    }
    fp_sqr(&pp_, &u2);
    fp_mul(&ppp, &u2, &pp_);
    fp_mul(&q_, &u1, &pp_);
    fp_sqr(&t, &s2);
    fp_sub(&t, &t, &ppp);
    fp_sub(&t, &t, &q_);
    fp_sub(&t, &t, &q_); /* X3 */
    fp_sub(&q_, &q_, &t);
    fp_mul(&q_, &s2, &q_);
    fp_mul(&s1, &s1, &ppp);
    fp_sub(&p->y, &q_, &s1);
    p->x = t;
    fp_mul(&p->zz, &p->zz, &q->zz);
    fp_mul(&p->zz, &p->zz, &pp_);
    fp_mul(&p->zzz, &p->zzz, &q->zzz);
    fp_mul(&p->zzz, &p->zzz, &ppp);
}

/* Affine forms of n finite XYZZ points with one inversion (Montgomery's trick on ZZ·ZZZ:
 * 1/ZZ = ZZZ·(ZZ·ZZZ)⁻¹, 1/ZZZ = ZZ·(ZZ·ZZZ)⁻¹). scratch holds n elements. */
static void xyzz_to_affine_batch(affine *out, const xyzz *in, size_t n, fp *scratch) {
    fp acc;
    memcpy(acc.l, MONT_ONE, sizeof acc.l);
    for (size_t k = 0; k < n; k++) {
        fp d;
        fp_mul(&d, &in[k].zz, &in[k].zzz);
        scratch[k] = acc; /* product of the d's before k */
        fp_mul(&acc, &acc, &d);
    }
    fp_inv(&acc, &acc);
    for (size_t k = n; k-- > 0;) {
        fp d, dinv;
        fp_mul(&d, &in[k].zz, &in[k].zzz);
        fp_mul(&dinv, &acc, &scratch[k]); /* 1/d_k */
        fp_mul(&acc, &acc, &d);
        fp t;
        fp_mul(&t, &dinv, &in[k].zzz);
        fp_mul(&out[k].x, &in[k].x, &t);
        fp_mul(&t, &dinv, &in[k].zz);
        fp_mul(&out[k].y, &in[k].y, &t);
    }
}

/* ---- scalars ----------------------------------------------------------------------------- */

/* bits [lo, lo + c) of a 256-bit little-endian scalar (c ≤ 16; bits past 256 read as 0) */
static inline uint32_t scalar_bits(const unsigned char *s, unsigned lo, unsigned c) {
    uint32_t v = 0;
    unsigned byte = lo >> 3;
    for (unsigned k = 0; k < 4 && byte + k < 32; k++) v |= (uint32_t)s[byte + k] << (8 * k);
    return (v >> (lo & 7)) & ((1u << c) - 1);
}

/* ---- Python ------------------------------------------------------------------------------ */

static int check_shape(long window, long windows) {
    if (window < 2 || window > MAX_WINDOW || windows < 1 || windows > 256 || window * windows < 256) {
        PyErr_SetString(PyExc_ValueError, "window and windows must satisfy 2 <= window <= 16 and window*windows >= 256");
        return 0;
    }
    return 1;
}

/* build_table(points, window, windows) -> bytes */
static PyObject *py_build_table(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer pts;
    long window, windows;
    if (!PyArg_ParseTuple(args, "y*ll", &pts, &window, &windows)) return NULL;
    PyObject *result = NULL;
    if (!check_shape(window, windows)) goto done;
    if (pts.len == 0 || pts.len % AFFINE_BYTES) {
        PyErr_SetString(PyExc_ValueError, "points must be a non-empty concatenation of 96-byte affine encodings");
        goto done;
    }
    size_t n = (size_t)pts.len / AFFINE_BYTES, w = (size_t)windows;
    if (n > ((size_t)1 << 24) / w) {
        PyErr_SetString(PyExc_ValueError, "table too large");
        goto done;
    }
    const unsigned char *src = pts.buf;
    affine *base = malloc(n * sizeof(affine));
    xyzz *block = malloc(w * sizeof(xyzz));
    fp *scratch = malloc(w * sizeof(fp));
    result = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * w * AFFINE_BYTES));
    if (!base || !block || !scratch || !result) {
        Py_CLEAR(result);
        free(base);
        free(block);
        free(scratch);
        PyErr_NoMemory();
        goto done;
    }
    /* each point canonical and on the curve: y² = x³ + 4 (never the identity, which the binding
     * writes as zeros and which is not on the curve) */
    for (size_t i = 0; i < n; i++) {
        fp lhs, rhs;
        if (!fp_from_bytes(&base[i].x, src + AFFINE_BYTES * i) ||
            !fp_from_bytes(&base[i].y, src + AFFINE_BYTES * i + FP_BYTES)) {
            PyErr_Format(PyExc_ValueError, "point %zu: coordinate not below p", i);
            goto fail;
        }
        fp_sqr(&lhs, &base[i].y);
        fp_sqr(&rhs, &base[i].x);
        fp_mul(&rhs, &rhs, &base[i].x);
        fp b4;
        memcpy(b4.l, MONT_B, sizeof b4.l);
        fp_add(&rhs, &rhs, &b4);
        if (!fp_eq(&lhs, &rhs)) {
            PyErr_Format(PyExc_ValueError, "point %zu: not on the curve", i);
            goto fail;
        }
    }
    affine *table = (affine *)PyBytes_AS_STRING(result);
    Py_BEGIN_ALLOW_THREADS
    for (size_t i = 0; i < n; i++) {
        xyzz acc;
        acc.x = base[i].x;
        acc.y = base[i].y;
        memcpy(acc.zz.l, MONT_ONE, sizeof acc.zz.l);
        memcpy(acc.zzz.l, MONT_ONE, sizeof acc.zzz.l);
        for (size_t j = 0; j < w; j++) {
            if (j) /* T[i][j] = 2^c · T[i][j−1] */
                for (long d = 0; d < window; d++) xyzz_dbl(&acc);
            block[j] = acc;
        }
        /* a point of prime order times a power of two is never the identity */
        xyzz_to_affine_batch(table + i * w, block, w, scratch);
    }
    Py_END_ALLOW_THREADS
    free(base);
    free(block);
    free(scratch);
    goto done;
fail:
    Py_CLEAR(result);
    free(base);
    free(block);
    free(scratch);
done:
    PyBuffer_Release(&pts);
    return result;
}

/* msm(table, window, windows, start, scalars) -> 96 affine bytes, or None for the identity:
 * Σ_k scalars[k] · P_{start + k} */
static PyObject *py_msm(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer tab, sc;
    long window, windows;
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "y*llny*", &tab, &window, &windows, &start, &sc)) return NULL;
    PyObject *result = NULL;
    xyzz *buckets = NULL;
    if (!check_shape(window, windows)) goto done;
    size_t w = (size_t)windows, entry = w * AFFINE_BYTES;
    if (tab.len == 0 || tab.len % (Py_ssize_t)entry) {
        PyErr_SetString(PyExc_ValueError, "table length does not match its windows");
        goto done;
    }
    size_t n_table = (size_t)tab.len / entry;
    if (sc.len % 32) {
        PyErr_SetString(PyExc_ValueError, "scalars must be 32-byte little-endian strings");
        goto done;
    }
    size_t n = (size_t)sc.len / 32;
    if (start < 0 || (size_t)start > n_table || n > n_table - (size_t)start) {
        PyErr_SetString(PyExc_ValueError, "scalars run past the table");
        goto done;
    }
    /* 256 bits of scalar; the signed digits need one more bit of room for the last carry */
    if ((size_t)window * w < 257) {
        const unsigned char *s = sc.buf;
        for (size_t k = 0; k < n; k++)
            if (s[32 * k + 31] & 0x80) {
                PyErr_SetString(PyExc_ValueError, "scalar too large for the table's windows");
                goto done;
            }
    }
    size_t nb = (size_t)1 << (window - 1);
    buckets = malloc(nb * sizeof(xyzz));
    if (!buckets) {
        PyErr_NoMemory();
        goto done;
    }
    xyzz total;
    int inf;
    const affine *table = (const affine *)tab.buf + (size_t)start * w;
    const unsigned char *s = sc.buf;
    Py_BEGIN_ALLOW_THREADS
    for (size_t b = 0; b < nb; b++) xyzz_set_inf(&buckets[b]);
    uint32_t full = 1u << window, half = 1u << (window - 1);
    for (size_t k = 0; k < n; k++) {
        const unsigned char *sk = s + 32 * k;
        const affine *row = table + k * w;
        uint32_t carry = 0;
        for (size_t j = 0; j < w; j++) {
            uint32_t d = scalar_bits(sk, (unsigned)(j * window), (unsigned)window) + carry;
            if (d > half) { /* the digit d − 2^c: −(2^c − d), and 0 when d = 2^c */
                carry = 1;
                if (d != full) xyzz_add_affine(&buckets[full - d - 1], &row[j], 1);
            } else {
                carry = 0;
                if (d) xyzz_add_affine(&buckets[d - 1], &row[j], 0);
            }
        }
    }
    /* Σ_d d·S_d as a running sum from the top bucket down */
    xyzz running;
    xyzz_set_inf(&running);
    xyzz_set_inf(&total);
    for (size_t b = nb; b-- > 0;) {
        xyzz_add(&running, &buckets[b]);
        xyzz_add(&total, &running);
    }
    inf = xyzz_is_inf(&total);
    Py_END_ALLOW_THREADS
    if (inf) {
        result = Py_NewRef(Py_None);
    } else {
        affine a;
        fp scratch;
        xyzz_to_affine_batch(&a, &total, 1, &scratch);
        result = PyBytes_FromStringAndSize(NULL, AFFINE_BYTES);
        if (result) {
            fp_to_bytes((unsigned char *)PyBytes_AS_STRING(result), &a.x);
            fp_to_bytes((unsigned char *)PyBytes_AS_STRING(result) + FP_BYTES, &a.y);
        }
    }
done:
    free(buckets);
    PyBuffer_Release(&tab);
    PyBuffer_Release(&sc);
    return result;
}

/* use_assembly(flag) -> whether the MULX/ADX product is in use afterwards (it is only when the
 * processor has it); for tests, which run both products */
static PyObject *py_use_assembly(PyObject *self, PyObject *arg) {
    (void)self;
    int flag = PyObject_IsTrue(arg);
    if (flag < 0) return NULL;
#ifdef FP_HAVE_ADX_PATH
    use_adx = flag && cpu_has_adx();
    return PyBool_FromLong(use_adx);
#else
    return PyBool_FromLong(0);
#endif
}

static PyMethodDef methods[] = {
    {"build_table", py_build_table, METH_VARARGS,
     "build_table(points, window, windows) -> bytes: 2^(window*j)*P_i for each 96-byte affine point"},
    {"msm", py_msm, METH_VARARGS,
     "msm(table, window, windows, start, scalars) -> 96 affine bytes or None: sum of scalar_k * P_(start+k)"},
    {"use_assembly", py_use_assembly, METH_O,
     "use_assembly(flag) -> bool: use the MULX/ADX field product when the processor has it"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_g1fixed",
    "Fixed-base multi-scalar multiplication on BLS12-381 G1 (see zkmargin/crypto/fixed_base.py).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__g1fixed(void) {
#ifdef FP_HAVE_ADX_PATH
    use_adx = cpu_has_adx();
#endif
    return PyModule_Create(&module);
}
