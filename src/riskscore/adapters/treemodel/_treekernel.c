/*
 * riskscore.adapters.treemodel._treekernel: TreeEnsembleModel.predict_arrays for batches, in C.
 *
 * Why: the numpy path costs about 3 us a row on the bench model (100 trees of up to 8 leaves, 141
 * features), most of it in per-call overheads and [rows, trees, depth] temporaries; a C loop per row
 * (walk each tree, add the reached leaves' path entries, pick the reason codes) costs a fraction.
 *
 * Trees of one depth are walked level by level, each leaf's node looping to itself (see
 * find_leaves), then a row's path entries are added tree after tree.
 *
 * The answers are the numpy path's, bit for bit (predictor.py is the reference; the tests in
 * tests/unit/test_treemodel_kernel.py hold the two equal):
 * - a node sends a value right when value > threshold, or when the value is NaN and the node
 *   learned NaN right (QuickScorer's rule in predictor.py); the values come routed (float32 models
 *   are cast by the caller);
 * - with reason codes, every feature's (negated) sum starts at +0.0 and adds the path entries of the
 *   reached leaves tree after tree, depth after depth: the order np.bincount adds them in. Entries
 *   whose delta is +-0.0 are left out (the padding of short paths among them): a sum that starts at
 *   +0.0 is never -0.0 in round-to-nearest, and x + +-0.0 == x for every other x, NaN included;
 *   the leaf values (bincount's last column) are summed in a register of their own, raw = baseline
 *   - that sum;
 * - without reason codes, raw = (v0 + v1 + ... ) + baseline, cumsum's order;
 * - reason codes are the k smallest negated sums, smallest first, equal values in column order and
 *   NaN after everything: a stable ascending argsort's first k, which `_smallest` answers;
 * - the probability is predictor._sigmoid, with the C library's exp that math.exp calls.
 * Built with -ffp-contract=off (setup.py) so no addition is fused or reordered.
 *
 * No numpy C API: arrays come in through the buffer protocol (C-contiguous, checked for size;
 * predictor.py passes the dtypes this reads).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    double threshold;
    int32_t feature;
    int32_t nan_right;
    int32_t child[2]; /* a walk node: nodes[0..n_nodes) internal, then one per leaf */
} Node;

#define MAX_DEPTH 64 /* a tree of at most 64 leaves (ensemble.py) is at most 63 deep */

typedef struct {
    PyObject_HEAD
    Py_ssize_t n_features;
    Py_ssize_t n_trees;
    Py_ssize_t n_leaves;
    Py_ssize_t n_nodes;
    double baseline;
    Node *nodes;            /* [n_nodes + n_leaves] a leaf's node loops to itself */
    int32_t *root;          /* [trees] */
    int32_t *order;         /* [trees] trees by depth, tree order among equals */
    int32_t depth_end[MAX_DEPTH + 1]; /* order[depth_end[d - 1]..depth_end[d]) are d deep */
    double *leaf_value;     /* [leaves] */
    double *neg_leaf_value; /* [leaves] */
    int32_t *path_start;    /* [leaves + 1] a leaf's entries are path_start[l]..path_start[l+1] */
    int32_t *path_feature;  /* [entries] */
    double *neg_path_delta; /* [entries] */
} Kernel;

/* Free the copies; score refuses a kernel without nodes. */
static void kernel_release(Kernel *self) {
    PyMem_Free(self->nodes);
    PyMem_Free(self->root);
    PyMem_Free(self->order);
    PyMem_Free(self->leaf_value);
    PyMem_Free(self->neg_leaf_value);
    PyMem_Free(self->path_start);
    PyMem_Free(self->path_feature);
    PyMem_Free(self->neg_path_delta);
    self->nodes = NULL;
    self->root = self->order = self->path_start = self->path_feature = NULL;
    self->leaf_value = self->neg_leaf_value = self->neg_path_delta = NULL;
}

static void kernel_dealloc(Kernel *self) {
    kernel_release(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A copy of a contiguous buffer of `count` items of `size` bytes; NULL with an exception set. */
static void *copied(Py_buffer *view, Py_ssize_t count, Py_ssize_t size, const char *what) {
    void *out;
    if (view->len != count * size) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, expected %zd", what, view->len,
                     count * size);
        return NULL;
    }
    out = PyMem_Malloc(count * size > 0 ? (size_t)(count * size) : 1);
    if (out == NULL) return PyErr_NoMemory();
    if (count > 0) memcpy(out, view->buf, (size_t)(count * size));
    return out;
}

static int refuse(const char *why) {
    PyErr_SetString(PyExc_ValueError, why);
    return -1;
}

/* The walk nodes, each tree's depth and the trees ordered by depth, from child links in which a
 * child is a later node or ~leaf. Checks that the links form trees of at most MAX_DEPTH levels,
 * so that every walk of its tree's depth ends on a leaf's node and nothing reads out of bounds. */
static int build_walk(Kernel *self, const int32_t *feature, const double *threshold,
                      const int32_t *nan_right, const int32_t *left, const int32_t *right) {
    const Py_ssize_t n_nodes = self->n_nodes, n_leaves = self->n_leaves, trees = self->n_trees;
    int32_t *level = NULL, *owner = NULL, *depth = NULL, d;
    Py_ssize_t i, at = 0;
    int side, ok = -1;
    self->nodes = PyMem_Malloc((size_t)(n_nodes + n_leaves) * sizeof(Node));
    self->order = PyMem_Malloc((size_t)trees * sizeof(int32_t));
    level = PyMem_Malloc((size_t)(n_nodes + 1) * sizeof(int32_t));
    owner = PyMem_Malloc((size_t)(n_nodes + 1) * sizeof(int32_t));
    depth = PyMem_Calloc((size_t)trees, sizeof(int32_t));
    if (!self->nodes || !self->order || !level || !owner || !depth) {
        PyErr_NoMemory();
        goto done;
    }
    for (i = 0; i < n_nodes; i++) owner[i] = -1;
    for (i = 0; i < trees; i++) {
        int32_t root = self->root[i];
        if (root >= 0 ? root >= n_nodes : ~root >= n_leaves) {
            refuse("tree root out of range");
            goto done;
        }
        if (root >= 0) {
            if (owner[root] >= 0) {
                refuse("trees share a root");
                goto done;
            }
            owner[root] = (int32_t)i;
            level[root] = 0;
        } else {
            self->root[i] = (int32_t)(n_nodes + ~root);
        }
    }
    for (i = 0; i < n_nodes; i++) {
        int32_t kids[2] = {left[i], right[i]};
        Node *node = &self->nodes[i];
        if (feature[i] < 0 || feature[i] >= self->n_features) {
            refuse("node feature out of range");
            goto done;
        }
        node->threshold = threshold[i];
        node->feature = feature[i];
        node->nan_right = nan_right[i] != 0;
        for (side = 0; side < 2; side++) {
            int32_t kid = kids[side];
            if (kid >= 0 ? (kid <= i || kid >= n_nodes) : ~kid >= n_leaves) {
                refuse("node child out of range");
                goto done;
            }
            node->child[side] = kid >= 0 ? kid : (int32_t)(n_nodes + ~kid);
            if (owner[i] < 0) continue; /* in no tree: never walked */
            if (kid >= 0) {
                if (owner[kid] >= 0) {
                    refuse("a node has two parents");
                    goto done;
                }
                owner[kid] = owner[i];
                level[kid] = level[i] + 1;
            } else if (depth[owner[i]] < level[i] + 1) {
                depth[owner[i]] = level[i] + 1;
            }
        }
    }
    for (i = 0; i < n_leaves; i++) {
        Node *node = &self->nodes[n_nodes + i];
        node->threshold = INFINITY; /* never right, NaN included: child[0] */
        node->feature = 0;
        node->nan_right = 0;
        node->child[0] = node->child[1] = (int32_t)(n_nodes + i);
    }
    for (i = 0; i < trees; i++) {
        if (depth[i] > MAX_DEPTH) {
            refuse("a tree is deeper than 64 levels");
            goto done;
        }
    }
    for (d = 0; d <= MAX_DEPTH; d++) {
        for (i = 0; i < trees; i++) {
            if (depth[i] == d) self->order[at++] = (int32_t)i;
        }
        self->depth_end[d] = (int32_t)at;
    }
    ok = 0;
done:
    PyMem_Free(level);
    PyMem_Free(owner);
    PyMem_Free(depth);
    return ok;
}

/*
 * Kernel(node_feature, node_threshold, node_nan_right, node_left, node_right, roots, leaf_value,
 *        path_start, path_feature, neg_path_delta, n_features, baseline)
 * int32 arrays except node_threshold, leaf_value, neg_path_delta (float64); a child or root is a
 * node index or ~leaf. Everything is checked here, so a scoring call cannot read out of bounds.
 */
static int kernel_init(Kernel *self, PyObject *args, PyObject *kwargs) {
    Py_buffer b[10];
    Py_ssize_t n_features, i, n_entries;
    double baseline;
    int ok = -1;
    int32_t *feature = NULL, *nan_right = NULL, *left = NULL, *right = NULL;
    double *threshold = NULL;
    static char *kwlist[] = {"node_feature", "node_threshold", "node_nan_right", "node_left",
                             "node_right", "roots", "leaf_value", "path_start", "path_feature",
                             "neg_path_delta", "n_features", "baseline", NULL};
    kernel_release(self); /* __init__ called again builds afresh */
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*y*y*y*y*y*y*y*y*nd", kwlist, &b[0], &b[1],
                                     &b[2], &b[3], &b[4], &b[5], &b[6], &b[7], &b[8], &b[9],
                                     &n_features, &baseline))
        return -1;
    self->n_features = n_features;
    self->n_nodes = b[0].len / 4;
    self->n_trees = b[5].len / 4;
    self->n_leaves = b[6].len / 8;
    self->baseline = baseline;
    if (n_features <= 0 || n_features > INT32_MAX || self->n_trees == 0 ||
        self->n_nodes + self->n_leaves > INT32_MAX) {
        refuse("an ensemble needs features, trees and int32 indices");
        goto done;
    }
    if (!(feature = copied(&b[0], self->n_nodes, 4, "node_feature")) ||
        !(threshold = copied(&b[1], self->n_nodes, 8, "node_threshold")) ||
        !(nan_right = copied(&b[2], self->n_nodes, 4, "node_nan_right")) ||
        !(left = copied(&b[3], self->n_nodes, 4, "node_left")) ||
        !(right = copied(&b[4], self->n_nodes, 4, "node_right")) ||
        !(self->root = copied(&b[5], self->n_trees, 4, "roots")) ||
        !(self->leaf_value = copied(&b[6], self->n_leaves, 8, "leaf_value")) ||
        !(self->neg_leaf_value = copied(&b[6], self->n_leaves, 8, "leaf_value")) ||
        !(self->path_start = copied(&b[7], self->n_leaves + 1, 4, "path_start")))
        goto done;
    n_entries = self->path_start[self->n_leaves];
    if (self->path_start[0] != 0) {
        refuse("path_start must run from 0");
        goto done;
    }
    for (i = 0; i < self->n_leaves; i++) {
        if (self->path_start[i + 1] < self->path_start[i]) {
            refuse("path_start must not decrease");
            goto done;
        }
        self->neg_leaf_value[i] = -self->leaf_value[i];
    }
    if (!(self->path_feature = copied(&b[8], n_entries, 4, "path_feature")) ||
        !(self->neg_path_delta = copied(&b[9], n_entries, 8, "neg_path_delta")))
        goto done;
    for (i = 0; i < n_entries; i++) {
        if (self->path_feature[i] < 0 || self->path_feature[i] >= n_features) {
            refuse("path feature out of range");
            goto done;
        }
    }
    ok = build_walk(self, feature, threshold, nan_right, left, right);
done:
    PyMem_Free(feature);
    PyMem_Free(threshold);
    PyMem_Free(nan_right);
    PyMem_Free(left);
    PyMem_Free(right);
    if (ok != 0) kernel_release(self); /* nothing half built */
    for (i = 0; i < 10; i++) PyBuffer_Release(&b[i]);
    return ok;
}

static double sigmoid(double z) {
    double e;
    if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
    e = exp(z);
    return e / (1.0 + e);
}

/* The leaf every tree reaches for a routed row, in leaves[tree]. Trees of one depth are walked
 * level by level, all of them a step at a time: the walks do not wait on one another and every
 * loop runs a fixed number of times (a walk per tree, ending when its leaf is reached, cost
 * about 0.2 us more a row on the bench model, 100 trees). */
static void find_leaves(const Kernel *self, const double *row, int32_t *at, int32_t *leaves) {
    const Node *nodes = self->nodes;
    const int32_t *order = self->order, trees = (int32_t)self->n_trees;
    int32_t d, step, i, lo = 0;
    for (i = 0; i < trees; i++) at[i] = self->root[order[i]];
    for (d = 1; d <= MAX_DEPTH && lo < trees; d++) {
        int32_t hi = self->depth_end[d];
        lo = self->depth_end[d - 1];
        for (step = 0; step < d; step++) {
            for (i = lo; i < hi; i++) {
                const Node *node = &nodes[at[i]];
                double v = row[node->feature];
                at[i] = node->child[(v > node->threshold) | ((v != v) & node->nan_right)];
            }
        }
        lo = hi;
    }
    for (i = 0; i < trees; i++) leaves[order[i]] = at[i] - (int32_t)self->n_nodes;
}

/* Insert column j (the largest so far) with value v into the k smallest of a row, kept sorted
 * with NaN last and equal values in column order; `count` of them are filled. */
static inline void keep_smallest(double *best, int64_t *at, Py_ssize_t k, Py_ssize_t *count,
                                 double v, Py_ssize_t j) {
    Py_ssize_t p = *count < k ? *count : k - 1;
    /* slide larger values (and NaN, when v is not NaN) one place down */
    while (p > 0 && (v < best[p - 1] || (best[p - 1] != best[p - 1] && v == v))) {
        best[p] = best[p - 1];
        at[p] = at[p - 1];
        p--;
    }
    best[p] = v;
    at[p] = j;
    if (*count < k) (*count)++;
}

static void score_rows(const Kernel *self, const double *x, const double *given, Py_ssize_t rows,
                       Py_ssize_t k, double *raw, double *probability, int64_t *top,
                       double *contribution, double *value, double *sums, int32_t *scratch) {
    const Py_ssize_t n = self->n_features, trees = self->n_trees;
    int32_t *leaves = scratch + trees;
    Py_ssize_t r, t, j;
    for (r = 0; r < rows; r++) {
        double z;
        find_leaves(self, x + r * n, scratch, leaves);
        if (k == 0) {
            double total = self->leaf_value[leaves[0]];
            for (t = 1; t < trees; t++) total += self->leaf_value[leaves[t]];
            z = total + self->baseline;
        } else {
            double neg_total = 0.0, *best = contribution + r * k;
            int64_t *at = top + r * k;
            Py_ssize_t count = 0;
            memset(sums, 0, (size_t)n * sizeof(double));
            for (t = 0; t < trees; t++) {
                int32_t leaf = leaves[t], e, end = self->path_start[leaf + 1];
                neg_total += self->neg_leaf_value[leaf];
                for (e = self->path_start[leaf]; e < end; e++)
                    sums[self->path_feature[e]] += self->neg_path_delta[e];
            }
            z = self->baseline - neg_total;
            for (j = 0; j < n; j++) {
                double v = sums[j];
                if (count < k || v < best[k - 1] || (best[k - 1] != best[k - 1] && v == v))
                    keep_smallest(best, at, k, &count, v, j);
            }
            for (j = 0; j < k; j++) {
                best[j] = -best[j];
                value[r * k + j] = given[r * n + at[j]];
            }
        }
        raw[r] = z;
        probability[r] = sigmoid(z);
    }
}

static int sized(Py_buffer *view, Py_ssize_t count, Py_ssize_t size, const char *what) {
    if (view->len != count * size) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, expected %zd", what, view->len,
                     count * size);
        return 0;
    }
    return 1;
}

/* score(x, given, k, raw, probability, top, contribution, value) -> None */
static PyObject *kernel_score(Kernel *self, PyObject *args) {
    Py_buffer b[7];
    Py_ssize_t k, rows, n, i;
    int got = 0;
    double *sums;
    int32_t *scratch;
    PyObject *result = NULL;
    if (self->nodes == NULL) {
        PyErr_SetString(PyExc_ValueError, "Kernel was not initialised");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*y*nw*w*w*w*w*", &b[0], &b[1], &k, &b[2], &b[3], &b[4], &b[5],
                          &b[6]))
        return NULL;
    got = 7;
    n = self->n_features;
    rows = b[2].len / 8;
    if (k < 0 || k > n) {
        PyErr_SetString(PyExc_ValueError, "k must be in 0..n_features");
        goto done;
    }
    if (!sized(&b[0], rows * n, 8, "x") || !sized(&b[1], rows * n, 8, "given") ||
        !sized(&b[2], rows, 8, "raw") || !sized(&b[3], rows, 8, "probability") ||
        !sized(&b[4], rows * k, 8, "top") || !sized(&b[5], rows * k, 8, "contribution") ||
        !sized(&b[6], rows * k, 8, "value"))
        goto done;
    sums = PyMem_RawMalloc((size_t)n * sizeof(double));
    scratch = PyMem_RawMalloc((size_t)(2 * self->n_trees) * sizeof(int32_t));
    if (sums == NULL || scratch == NULL) {
        PyMem_RawFree(sums);
        PyMem_RawFree(scratch);
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    score_rows(self, b[0].buf, b[1].buf, rows, k, b[2].buf, b[3].buf, b[4].buf, b[5].buf,
               b[6].buf, sums, scratch);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(sums);
    PyMem_RawFree(scratch);
    result = Py_NewRef(Py_None);
done:
    for (i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    return result;
}

static PyMethodDef KERNEL_METHODS[] = {
    {"score", (PyCFunction)kernel_score, METH_VARARGS,
     "score(x, given, k, raw, probability, top, contribution, value): fill the outputs."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject KernelType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "riskscore.adapters.treemodel._treekernel.Kernel",
    .tp_basicsize = sizeof(Kernel),
    .tp_dealloc = (destructor)kernel_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A tree ensemble's scoring arrays, copied; score() fills predict_arrays' outputs.",
    .tp_methods = KERNEL_METHODS,
    .tp_init = (initproc)kernel_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, "_treekernel", "Batch scoring of a tree ensemble, in C.", -1, NULL,
};

PyMODINIT_FUNC PyInit__treekernel(void) {
    PyObject *module;
    if (PyType_Ready(&KernelType) < 0) return NULL;
    module = PyModule_Create(&MODULE);
    if (module == NULL) return NULL;
    if (PyModule_AddObjectRef(module, "Kernel", (PyObject *)&KernelType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
