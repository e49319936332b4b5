/*
 * Vectors of BLS12-381 scalars (the field F_r, r = 0x73ed…0001) for the verifier's per-proof work.
 *
 * A vector is a bytes object of 32·N bytes: N elements, each four little-endian 64-bit limbs in
 * Montgomery form (x·2^256 mod r), always fully reduced (< r). A single scalar is such a vector
 * of length one. Every function takes and returns bytes; nothing is kept between calls and no
 * Python object is touched inside a loop, so one call over a few thousand elements costs what the
 * arithmetic costs. The operations are what docs/notes/protocol.md's "Verification" needs:
 * elementwise products and sums, powers, the doubling construction of s, dot products, a gather
 * and the segment sums of the flattened weights (verifier/compiled.py).
 *
 * The data is public (a verifier works on proofs and public inputs only): nothing here needs to
 * run in constant time. Inputs are checked — lengths, canonical encodings on the way in, every
 * index against the vector it reads — so a malformed call raises ValueError, never reads out of
 * bounds. zkmargin/crypto/fr_vectors.py wraps this module; tests/test_fr_vectors.py checks every
 * function against Python integers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef unsigned __int128 u128;

/* r, little-endian limbs */
static const uint64_t P[4] = {0xffffffff00000001ULL, 0x53bda402fffe5bfeULL, 0x3339d80809a1d805ULL,
                              0x73eda753299d7d48ULL};
/* −r⁻¹ mod 2^64 */
static const uint64_t INV = 0xfffffffeffffffffULL;
/* 2^512 mod r: multiplying by it (Montgomery) enters Montgomery form */
static const uint64_t R2[4] = {0xc999e990f3f29c6dULL, 0x2b6cedcb87925c23ULL, 0x05d314967254398fULL,
                               0x0748d9d99f59ff11ULL};
static const uint64_t ONE[4] = {1, 0, 0, 0};

typedef struct {
    uint64_t l[4];
} fe;

static inline int geq_p(const uint64_t t[4]) {
    for (int i = 3; i >= 0; i--) {
        if (t[i] > P[i]) return 1;
        if (t[i] < P[i]) return 0;
    }
    return 1;
}

static inline void sub_p(uint64_t t[4]) {
    u128 borrow = 0;
    for (int i = 0; i < 4; i++) {
        u128 d = (u128)t[i] - P[i] - borrow;
        t[i] = (uint64_t)d;
        borrow = (d >> 64) & 1;
    }
}

/* a + b mod r (a, b < r < 2^255, so the sum fits in 256 bits) */
static inline void fe_add(fe *out, const fe *a, const fe *b) {
    u128 c = 0;
    uint64_t t[4];
    for (int i = 0; i < 4; i++) {
        c += (u128)a->l[i] + b->l[i];
        t[i] = (uint64_t)c;
        c >>= 64;
    }
    if (geq_p(t)) sub_p(t);
    memcpy(out->l, t, sizeof t);
}

/* a − b mod r */
static inline void fe_sub(fe *out, const fe *a, const fe *b) {
    u128 borrow = 0;
    uint64_t t[4];
    for (int i = 0; i < 4; i++) {
        u128 d = (u128)a->l[i] - b->l[i] - borrow;
        t[i] = (uint64_t)d;
        borrow = (d >> 64) & 1;
    }
    if (borrow) { /* add r back */
        u128 c = 0;
        for (int i = 0; i < 4; i++) {
            c += (u128)t[i] + P[i];
            t[i] = (uint64_t)c;
            c >>= 64;
        }
    }
    memcpy(out->l, t, sizeof t);
}

/* Montgomery product a·b·2^-256 mod r (CIOS, four limbs) */
static inline void fe_mul(fe *out, const fe *a, const fe *b) {
    uint64_t t[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        u128 c = 0;
        for (int j = 0; j < 4; j++) {
            c += (u128)a->l[j] * b->l[i] + t[j];
            t[j] = (uint64_t)c;
            c >>= 64;
        }
        c += t[4];
        t[4] = (uint64_t)c;
        t[5] = (uint64_t)(c >> 64);
        uint64_t m = t[0] * INV;
        c = (u128)m * P[0] + t[0];
        c >>= 64;
        for (int j = 1; j < 4; j++) {
            c += (u128)m * P[j] + t[j];
            t[j - 1] = (uint64_t)c;
            c >>= 64;
        }
        c += t[4];
        t[3] = (uint64_t)c;
        t[4] = t[5] + (uint64_t)(c >> 64);
    }
    if (t[4] || geq_p(t)) sub_p(t);
    memcpy(out->l, t, 4 * sizeof(uint64_t));
}

/* ---- argument helpers -------------------------------------------------------------------------- */

/* A vector argument: its buffer and element count; ValueError unless the length is a multiple of 32. */
typedef struct {
    Py_buffer view;
    const fe *v;
    Py_ssize_t n;
} vec_arg;

/* The buffer of ``obj`` as whole elements of ``size`` bytes: their count, or -1 with ValueError
 * (naming ``what`` and ``kind``) and nothing held when the length is not a multiple of ``size``. */
static Py_ssize_t buf_get(PyObject *obj, Py_buffer *view, Py_ssize_t size, const char *what, const char *kind) {
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0) return -1;
    if (view->len % size) {
        PyErr_Format(PyExc_ValueError, "%s: %s is a multiple of %zd bytes", what, kind, size);
        PyBuffer_Release(view);
        return -1;
    }
    return view->len / size;
}

static int vec_get(PyObject *obj, vec_arg *out, const char *what) {
    out->n = buf_get(obj, &out->view, 32, what, "a vector");
    if (out->n < 0) return -1;
    out->v = (const fe *)out->view.buf;
    return 0;
}

static int scalar_get(PyObject *obj, fe *out, const char *what) {
    vec_arg a;
    if (vec_get(obj, &a, what) < 0) return -1;
    if (a.n != 1) {
        PyErr_Format(PyExc_ValueError, "%s: a scalar is 32 bytes", what);
        PyBuffer_Release(&a.view);
        return -1;
    }
    memcpy(out, a.v, sizeof(fe));
    PyBuffer_Release(&a.view);
    return 0;
}

/* An index argument: native int32 values (array('i').tobytes()). */
typedef struct {
    Py_buffer view;
    const int32_t *v;
    Py_ssize_t n;
} idx_arg;

static int idx_get(PyObject *obj, idx_arg *out, const char *what) {
    out->n = buf_get(obj, &out->view, 4, what, "an index array");
    if (out->n < 0) return -1;
    out->v = (const int32_t *)out->view.buf;
    return 0;
}

static PyObject *new_vec(Py_ssize_t n, fe **out) {
    PyObject *b = PyBytes_FromStringAndSize(NULL, n * 32);
    if (b) *out = (fe *)PyBytes_AS_STRING(b);
    return b;
}

/* ---- conversions ------------------------------------------------------------------------------- */

static PyObject *py_to_mont(PyObject *self, PyObject *arg) {
    vec_arg a;
    if (vec_get(arg, &a, "to_mont") < 0) return NULL;
    fe *o;
    PyObject *res = new_vec(a.n, &o);
    if (res) {
        fe r2;
        memcpy(r2.l, R2, sizeof r2.l);
        for (Py_ssize_t i = 0; i < a.n; i++) {
            if (geq_p(a.v[i].l)) {
                Py_DECREF(res);
                res = NULL;
                PyErr_Format(PyExc_ValueError, "to_mont: element %zd is not below r", i);
                break;
            }
            fe_mul(&o[i], &a.v[i], &r2);
        }
    }
    PyBuffer_Release(&a.view);
    return res;
}

static PyObject *py_from_mont(PyObject *self, PyObject *arg) {
    vec_arg a;
    if (vec_get(arg, &a, "from_mont") < 0) return NULL;
    fe *o;
    PyObject *res = new_vec(a.n, &o);
    if (res) {
        fe one;
        memcpy(one.l, ONE, sizeof one.l);
        for (Py_ssize_t i = 0; i < a.n; i++) fe_mul(&o[i], &a.v[i], &one);
    }
    PyBuffer_Release(&a.view);
    return res;
}

/* ---- elementwise ------------------------------------------------------------------------------- */

typedef void (*binop)(fe *, const fe *, const fe *);

static PyObject *elementwise(PyObject *args, binop op, const char *name) {
    PyObject *x, *y;
    if (!PyArg_ParseTuple(args, "OO", &x, &y)) return NULL;
    vec_arg a, b;
    if (vec_get(x, &a, name) < 0) return NULL;
    if (vec_get(y, &b, name) < 0) {
        PyBuffer_Release(&a.view);
        return NULL;
    }
    PyObject *res = NULL;
    if (a.n != b.n) {
        PyErr_Format(PyExc_ValueError, "%s: vectors of %zd and %zd elements", name, a.n, b.n);
    } else {
        fe *o;
        res = new_vec(a.n, &o);
        if (res)
            for (Py_ssize_t i = 0; i < a.n; i++) op(&o[i], &a.v[i], &b.v[i]);
    }
    PyBuffer_Release(&a.view);
    PyBuffer_Release(&b.view);
    return res;
}

static PyObject *py_mul(PyObject *self, PyObject *args) { return elementwise(args, fe_mul, "mul"); }
static PyObject *py_add(PyObject *self, PyObject *args) { return elementwise(args, fe_add, "add"); }
static PyObject *py_sub(PyObject *self, PyObject *args) { return elementwise(args, fe_sub, "sub"); }

static PyObject *py_neg(PyObject *self, PyObject *arg) {
    vec_arg a;
    if (vec_get(arg, &a, "neg") < 0) return NULL;
    fe *o;
    PyObject *res = new_vec(a.n, &o);
    if (res) {
        fe zero = {{0, 0, 0, 0}};
        for (Py_ssize_t i = 0; i < a.n; i++) fe_sub(&o[i], &zero, &a.v[i]);
    }
    PyBuffer_Release(&a.view);
    return res;
}

/* scale(v, c): c·v_i for every i */
static PyObject *py_scale(PyObject *self, PyObject *args) {
    PyObject *x, *cobj;
    if (!PyArg_ParseTuple(args, "OO", &x, &cobj)) return NULL;
    fe c;
    if (scalar_get(cobj, &c, "scale") < 0) return NULL;
    vec_arg a;
    if (vec_get(x, &a, "scale") < 0) return NULL;
    fe *o;
    PyObject *res = new_vec(a.n, &o);
    if (res)
        for (Py_ssize_t i = 0; i < a.n; i++) fe_mul(&o[i], &a.v[i], &c);
    PyBuffer_Release(&a.view);
    return res;
}

/* ---- structured vectors ------------------------------------------------------------------------ */

/* powers(base, count, start): [start, start·base, …, start·base^(count−1)] */
static PyObject *py_powers(PyObject *self, PyObject *args) {
    PyObject *bobj, *sobj;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "OnO", &bobj, &count, &sobj)) return NULL;
    if (count < 0 || count > (PY_SSIZE_T_MAX / 32)) {
        PyErr_SetString(PyExc_ValueError, "powers: count out of range");
        return NULL;
    }
    fe base, acc;
    if (scalar_get(bobj, &base, "powers") < 0 || scalar_get(sobj, &acc, "powers") < 0) return NULL;
    fe *o;
    PyObject *res = new_vec(count, &o);
    if (!res) return NULL;
    for (Py_ssize_t i = 0; i < count; i++) {
        o[i] = acc;
        fe_mul(&acc, &acc, &base);
    }
    return res;
}

/* doubling(start, factors): the 2^k vector whose entry i is start·Π_{j: bit j of i} factors[j] */
static PyObject *py_doubling(PyObject *self, PyObject *args) {
    PyObject *sobj, *fobj;
    if (!PyArg_ParseTuple(args, "OO", &sobj, &fobj)) return NULL;
    fe start;
    if (scalar_get(sobj, &start, "doubling") < 0) return NULL;
    vec_arg f;
    if (vec_get(fobj, &f, "doubling") < 0) return NULL;
    if (f.n > 30) {
        PyErr_SetString(PyExc_ValueError, "doubling: at most 2^30 entries");
        PyBuffer_Release(&f.view);
        return NULL;
    }
    fe *o;
    PyObject *res = new_vec((Py_ssize_t)1 << f.n, &o);
    if (res) {
        o[0] = start;
        Py_ssize_t len = 1;
        for (Py_ssize_t j = 0; j < f.n; j++) {
            for (Py_ssize_t i = 0; i < len; i++) fe_mul(&o[len + i], &o[i], &f.v[j]);
            len <<= 1;
        }
    }
    PyBuffer_Release(&f.view);
    return res;
}

/* dot(a, b): Σ a_i·b_i, as a scalar */
static PyObject *py_dot(PyObject *self, PyObject *args) {
    PyObject *x, *y;
    if (!PyArg_ParseTuple(args, "OO", &x, &y)) return NULL;
    vec_arg a, b;
    if (vec_get(x, &a, "dot") < 0) return NULL;
    if (vec_get(y, &b, "dot") < 0) {
        PyBuffer_Release(&a.view);
        return NULL;
    }
    PyObject *res = NULL;
    if (a.n != b.n) {
        PyErr_Format(PyExc_ValueError, "dot: vectors of %zd and %zd elements", a.n, b.n);
    } else {
        fe *o;
        res = new_vec(1, &o);
        if (res) {
            fe acc = {{0, 0, 0, 0}}, p;
            for (Py_ssize_t i = 0; i < a.n; i++) {
                fe_mul(&p, &a.v[i], &b.v[i]);
                fe_add(&acc, &acc, &p);
            }
            *o = acc;
        }
    }
    PyBuffer_Release(&a.view);
    PyBuffer_Release(&b.view);
    return res;
}

/* total(a): Σ a_i */
static PyObject *py_total(PyObject *self, PyObject *arg) {
    vec_arg a;
    if (vec_get(arg, &a, "total") < 0) return NULL;
    fe *o;
    PyObject *res = new_vec(1, &o);
    if (res) {
        fe acc = {{0, 0, 0, 0}};
        for (Py_ssize_t i = 0; i < a.n; i++) fe_add(&acc, &acc, &a.v[i]);
        *o = acc;
    }
    PyBuffer_Release(&a.view);
    return res;
}

/* take(v, idx): [v[idx_0], v[idx_1], …] */
static PyObject *py_take(PyObject *self, PyObject *args) {
    PyObject *x, *iobj;
    if (!PyArg_ParseTuple(args, "OO", &x, &iobj)) return NULL;
    vec_arg a;
    idx_arg ix;
    if (vec_get(x, &a, "take") < 0) return NULL;
    if (idx_get(iobj, &ix, "take") < 0) {
        PyBuffer_Release(&a.view);
        return NULL;
    }
    fe *o;
    PyObject *res = new_vec(ix.n, &o);
    if (res)
        for (Py_ssize_t k = 0; k < ix.n; k++) {
            int32_t s = ix.v[k];
            if (s < 0 || s >= a.n) {
                Py_DECREF(res);
                res = NULL;
                PyErr_Format(PyExc_ValueError, "take: index %d outside a vector of %zd", (int)s, a.n);
                break;
            }
            o[k] = a.v[s];
        }
    PyBuffer_Release(&a.view);
    PyBuffer_Release(&ix.view);
    return res;
}

/* segment_sums(source, idx, starts, ends): out[i] = Σ_{k ∈ [starts[i], ends[i])} source[idx[k]] */
static PyObject *py_segment_sums(PyObject *self, PyObject *args) {
    PyObject *x, *iobj, *sobj, *eobj;
    if (!PyArg_ParseTuple(args, "OOOO", &x, &iobj, &sobj, &eobj)) return NULL;
    vec_arg a;
    idx_arg ix, st, en;
    if (vec_get(x, &a, "segment_sums") < 0) return NULL;
    if (idx_get(iobj, &ix, "segment_sums") < 0) {
        PyBuffer_Release(&a.view);
        return NULL;
    }
    if (idx_get(sobj, &st, "segment_sums") < 0) {
        PyBuffer_Release(&a.view);
        PyBuffer_Release(&ix.view);
        return NULL;
    }
    if (idx_get(eobj, &en, "segment_sums") < 0) {
        PyBuffer_Release(&a.view);
        PyBuffer_Release(&ix.view);
        PyBuffer_Release(&st.view);
        return NULL;
    }
    PyObject *res = NULL;
    if (st.n != en.n) {
        PyErr_SetString(PyExc_ValueError, "segment_sums: starts and ends differ in length");
        goto done;
    }
    fe *o;
    res = new_vec(st.n, &o);
    if (!res) goto done;
    for (Py_ssize_t i = 0; i < st.n; i++) {
        int32_t s = st.v[i], e = en.v[i];
        if (s < 0 || e < s || e > ix.n) {
            PyErr_Format(PyExc_ValueError, "segment_sums: segment %zd [%d, %d) outside %zd summands", i, (int)s,
                         (int)e, ix.n);
            Py_CLEAR(res);
            goto done;
        }
        fe acc = {{0, 0, 0, 0}};
        for (int32_t k = s; k < e; k++) {
            int32_t j = ix.v[k];
            if (j < 0 || j >= a.n) {
                PyErr_Format(PyExc_ValueError, "segment_sums: index %d outside a vector of %zd", (int)j, a.n);
                Py_CLEAR(res);
                goto done;
            }
            fe_add(&acc, &acc, &a.v[j]);
        }
        o[i] = acc;
    }
done:
    PyBuffer_Release(&a.view);
    PyBuffer_Release(&ix.view);
    PyBuffer_Release(&st.view);
    PyBuffer_Release(&en.view);
    return res;
}

static PyMethodDef methods[] = {
    {"to_mont", py_to_mont, METH_O, "canonical little-endian scalars (each < r) -> Montgomery form"},
    {"from_mont", py_from_mont, METH_O, "Montgomery form -> canonical little-endian scalars"},
    {"mul", py_mul, METH_VARARGS, "elementwise product"},
    {"add", py_add, METH_VARARGS, "elementwise sum"},
    {"sub", py_sub, METH_VARARGS, "elementwise difference"},
    {"neg", py_neg, METH_O, "elementwise negation"},
    {"scale", py_scale, METH_VARARGS, "every element times one scalar"},
    {"powers", py_powers, METH_VARARGS, "[start, start*base, ..., start*base^(count-1)]"},
    {"doubling", py_doubling, METH_VARARGS, "entry i = start * prod of factors[j] over the bits j of i"},
    {"dot", py_dot, METH_VARARGS, "sum of elementwise products, as a scalar"},
    {"total", py_total, METH_O, "sum of the elements, as a scalar"},
    {"take", py_take, METH_VARARGS, "gather by int32 indices"},
    {"segment_sums", py_segment_sums, METH_VARARGS, "sums of gathered segments [starts[i], ends[i])"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_frvec",
    "Vectors of BLS12-381 scalars in Montgomery form, as bytes (see zkmargin/crypto/fr_vectors.py).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__frvec(void) { return PyModule_Create(&module); }
