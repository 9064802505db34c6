/*
 * riskscore.adapters.lxml._fastread: the Rx fill reading of reading.py, done in C over the libxml2
 * tree that lxml has already parsed (with riskscore's one hardened parser; nothing is parsed here).
 *
 * Why: reading a typical report (33 fills) in Python costs about 6 us a fill, because every element
 * touched becomes an lxml proxy object and every field a Python call. Walking libxml2's nodes
 * directly costs a fraction of that. The nodes are reached through lxml's public C struct for an
 * element (lxml.etree.h, shipped in lxml's wheels: `_c_node` of `LxmlElement`); only struct fields
 * are read, no libxml2 function is called, so nothing links against libxml2.
 *
 * The rules are those of reading.py (docs/evidence-format.md), which stays the reference: names
 * match on the local name, ASCII case-insensitively (no non-ASCII character lower-cases into one of
 * the ASCII field names this reads, so this equals Python's str.lower() comparison); an attribute
 * wins over a child element and the first non-empty child element over later ones; a field's text
 * is lxml's `.text` (the text and CDATA nodes before the first other child) stripped as
 * str.strip() does; fills are found at any depth but not inside fills; a fill without a generic
 * name is skipped. Where a tree holds something this reader does not copy lxml's handling of
 * (several text nodes in one field or attribute value), `read_fills` returns None and the caller
 * reads the document in Python. tests/unit/test_lxml_fast_reader.py holds the two readers equal.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <libxml/tree.h>
#include "lxml.etree.h"

/* Field slots of one fill; reading._FILL_SLOTS names them, in this order, as RxFill keywords. */
enum {
    F_GENERIC, F_BRAND, F_NDC, F_FILL_DATE, F_DAYS_SUPPLY, F_QUANTITY, F_REFILLS, F_STRENGTH,
    F_PRESCRIBER_ID, F_PRESCRIBER_SPECIALTY, F_PHARMACY_ID, N_FIELDS,
    K_UNKNOWN = -1, K_PRESCRIBER = -2, K_PHARMACY = -3
};

typedef struct { const char *name; int key; } Word;

static const Word FILL_WORDS[] = {
    {"druggenericname", F_GENERIC}, {"genericname", F_GENERIC},
    {"drugbrandname", F_BRAND}, {"brandname", F_BRAND},
    {"ndc", F_NDC},
    {"filldate", F_FILL_DATE}, {"datefilled", F_FILL_DATE},
    {"dayssupply", F_DAYS_SUPPLY}, {"dayssupplied", F_DAYS_SUPPLY},
    {"quantity", F_QUANTITY}, {"qty", F_QUANTITY},
    {"refills", F_REFILLS},
    {"strength", F_STRENGTH},
    {"prescriberid", F_PRESCRIBER_ID},
    {"prescriberspecialty", F_PRESCRIBER_SPECIALTY},
    {"pharmacyid", F_PHARMACY_ID},
    {"prescriber", K_PRESCRIBER}, {"pharmacy", K_PHARMACY},
    {NULL, 0},
};
static const Word PRESCRIBER_WORDS[] = {
    {"id", F_PRESCRIBER_ID}, {"prescriberid", F_PRESCRIBER_ID},
    {"specialty", F_PRESCRIBER_SPECIALTY}, {"prescriberspecialty", F_PRESCRIBER_SPECIALTY},
    {NULL, 0},
};
static const Word PHARMACY_WORDS[] = {
    {"id", F_PHARMACY_ID}, {"pharmacyid", F_PHARMACY_ID},
    {NULL, 0},
};

#define MAX_WORD 32 /* longer names are not in any vocabulary */

/* The key of an element or attribute name; K_UNKNOWN for a name the vocabulary does not know. */
static int lookup(const Word *words, const xmlChar *name) {
    char folded[MAX_WORD + 1];
    size_t i = 0;
    if (name == NULL) return K_UNKNOWN;
    for (; name[i] != 0; i++) {
        unsigned char c = name[i];
        if (i == MAX_WORD || c >= 0x80) return K_UNKNOWN;
        folded[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
    }
    folded[i] = 0;
    for (; words->name != NULL; words++) {
        if (words->name[0] == folded[0] && strcmp(words->name, folded) == 0) return words->key;
    }
    return K_UNKNOWN;
}

static int is_space(unsigned char c) {
    /* What str.strip() removes among ASCII characters (XML itself only allows the first four). */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0b || c == 0x0c
        || (c >= 0x1c && c <= 0x1f);
}

static PyObject *STR_STRIP; /* "strip" */

/* `text` (valid UTF-8, as libxml2 keeps it) stripped as str.strip() does; NULL with no error set
 * when nothing is left; NULL with an error set on failure. */
static PyObject *stripped(const xmlChar *text) {
    const unsigned char *start = (const unsigned char *)text;
    const unsigned char *end = start + strlen((const char *)start);
    PyObject *value, *result;
    while (start < end && is_space(*start)) start++;
    while (end > start && is_space(end[-1])) end--;
    if (start == end) return NULL;
    value = PyUnicode_DecodeUTF8((const char *)start, end - start, "strict");
    if (value == NULL || (*start < 0x80 && end[-1] < 0x80)) return value;
    /* Non-ASCII at an edge may be white space Python knows (U+00A0, U+2003, ...): ask Python. */
    result = PyObject_CallMethodNoArgs(value, STR_STRIP);
    Py_DECREF(value);
    if (result != NULL && PyUnicode_GET_LENGTH(result) == 0) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

#define UNREADABLE 1 /* the tree holds what lxml would join and this reader does not */

static int is_text(const xmlNode *node) {
    return node != NULL && (node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE);
}

/* A field's value from a node list (an element's children, as lxml's .text reads them, or an
 * attribute's value nodes): stored in *slot unless one is there already. Returns 0, -1 on error,
 * or UNREADABLE. */
static int take(PyObject **slot, const xmlNode *first) {
    PyObject *value;
    if (*slot != NULL || !is_text(first)) return 0;
    if (is_text(first->next)) return UNREADABLE;
    value = stripped(first->content);
    if (value == NULL) return PyErr_Occurred() ? -1 : 0;
    *slot = value;
    return 0;
}

static int take_attributes(PyObject **found, const Word *words, const xmlNode *elem) {
    const xmlAttr *attr;
    for (attr = elem->properties; attr != NULL; attr = attr->next) {
        int key = lookup(words, attr->name), status;
        if (key < 0 || found[key] != NULL) continue;
        if (attr->children == NULL) continue; /* an empty value is absent */
        if (attr->children->type != XML_TEXT_NODE) return UNREADABLE;
        status = take(&found[key], attr->children);
        if (status != 0) return status;
    }
    return 0;
}

/* <Prescriber id=".." specialty=".."/> or <Prescriber><Id>..</Id></Prescriber>: its parts are
 * fields of the fill. */
static int take_group(PyObject **found, const Word *words, const xmlNode *group) {
    const xmlNode *child;
    int status = take_attributes(found, words, group);
    if (status != 0) return status;
    for (child = group->children; child != NULL; child = child->next) {
        int key;
        if (child->type != XML_ELEMENT_NODE) continue;
        key = lookup(words, child->name);
        if (key < 0) continue;
        status = take(&found[key], child->children);
        if (status != 0) return status;
    }
    return 0;
}

typedef struct {
    PyObject *fill_type;  /* RxFill */
    PyObject *kwnames;    /* its keyword names, in slot order */
    PyObject *dates, *counts, *amounts, *strengths; /* the memoised value readers of values.py */
} Config;

static Config CONFIG;

/* found[slot] replaced by reader[found[slot]] (absent stays absent). */
static int convert(PyObject **found, int slot, PyObject *reader) {
    PyObject *value;
    if (found[slot] == NULL) return 0;
    value = PyObject_GetItem(reader, found[slot]);
    if (value == NULL) return -1;
    Py_SETREF(found[slot], value);
    return 0;
}

/* One DrugFill element: appends an RxFill to `fills` unless it has no generic name. */
static int read_fill(const xmlNode *elem, PyObject *fills) {
    PyObject *found[N_FIELDS] = {NULL};
    PyObject *args[N_FIELDS + 1];
    const xmlNode *child;
    int status = take_attributes(found, FILL_WORDS, elem), i;
    for (child = elem->children; status == 0 && child != NULL; child = child->next) {
        int key;
        if (child->type != XML_ELEMENT_NODE) continue;
        key = lookup(FILL_WORDS, child->name);
        if (key == K_PRESCRIBER) status = take_group(found, PRESCRIBER_WORDS, child);
        else if (key == K_PHARMACY) status = take_group(found, PHARMACY_WORDS, child);
        else if (key >= 0) status = take(&found[key], child->children);
    }
    if (status == 0 && found[F_GENERIC] != NULL) {
        if (convert(found, F_FILL_DATE, CONFIG.dates) < 0
            || convert(found, F_DAYS_SUPPLY, CONFIG.counts) < 0
            || convert(found, F_QUANTITY, CONFIG.amounts) < 0
            || convert(found, F_REFILLS, CONFIG.counts) < 0
            || convert(found, F_STRENGTH, CONFIG.strengths) < 0) {
            status = -1;
        } else {
            PyObject *fill;
            args[0] = NULL;
            for (i = 0; i < N_FIELDS; i++) args[i + 1] = found[i] != NULL ? found[i] : Py_None;
            fill = PyObject_Vectorcall(
                CONFIG.fill_type, args + 1, PY_VECTORCALL_ARGUMENTS_OFFSET, CONFIG.kwnames);
            if (fill == NULL) status = -1;
            else {
                status = PyList_Append(fills, fill);
                Py_DECREF(fill);
            }
        }
    }
    for (i = 0; i < N_FIELDS; i++) Py_XDECREF(found[i]);
    return status;
}

static const Word RECORD_WORDS[] = {{"drugfill", 0}, {NULL, 0}};

static int collect(const xmlNode *elem, PyObject *fills) {
    const xmlNode *child;
    if (lookup(RECORD_WORDS, elem->name) == 0)
        return read_fill(elem, fills);
    for (child = elem->children; child != NULL; child = child->next) {
        if (child->type == XML_ELEMENT_NODE) {
            int status = collect(child, fills);
            if (status != 0) return status;
        }
    }
    return 0;
}

static PyTypeObject *ELEMENT_TYPE;

static PyObject *read_fills(PyObject *module, PyObject *root) {
    PyObject *fills;
    const xmlNode *node;
    int status;
    if (CONFIG.fill_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_fastread.configure() was not called");
        return NULL;
    }
    if (!PyObject_TypeCheck(root, ELEMENT_TYPE)) {
        PyErr_SetString(PyExc_TypeError, "read_fills() takes an lxml element");
        return NULL;
    }
    node = ((struct LxmlElement *)root)->_c_node;
    if (node == NULL || node->type != XML_ELEMENT_NODE) {
        PyErr_SetString(PyExc_TypeError, "read_fills() takes an lxml element");
        return NULL;
    }
    fills = PyList_New(0);
    if (fills == NULL) return NULL;
    status = collect(node, fills);
    if (status == 0) return fills;
    Py_DECREF(fills);
    if (status < 0) return NULL;
    Py_RETURN_NONE; /* UNREADABLE: the caller reads it in Python */
}

/* Whether any element nests deeper than max_depth levels (the root is level 1): the parser's
 * depth probe, without XPath. Walks with parent links, so a deep tree costs no C stack. */
static PyObject *deeper_than(PyObject *module, PyObject *args) {
    PyObject *root;
    Py_ssize_t max_depth, depth = 1;
    const xmlNode *top, *node;
    if (ELEMENT_TYPE == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_fastread.configure() was not called");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O!n:deeper_than", ELEMENT_TYPE, &root, &max_depth)) return NULL;
    top = node = ((struct LxmlElement *)root)->_c_node;
    if (node == NULL) Py_RETURN_FALSE;
    while (1) {
        const xmlNode *child = node->children;
        while (child != NULL && child->type != XML_ELEMENT_NODE) child = child->next;
        if (child != NULL) {
            node = child;
            if (++depth > max_depth) Py_RETURN_TRUE;
            continue;
        }
        /* no element below: the next element sibling of this node or of an ancestor */
        while (1) {
            const xmlNode *next;
            if (node == top) Py_RETURN_FALSE;
            for (next = node->next; next != NULL && next->type != XML_ELEMENT_NODE;)
                next = next->next;
            if (next != NULL) {
                node = next;
                break;
            }
            node = node->parent;
            depth--;
        }
    }
}

static PyObject *configure(PyObject *module, PyObject *args) {
    PyObject *element_type, *fill_type, *kwnames, *dates, *counts, *amounts, *strengths;
    if (!PyArg_ParseTuple(args, "O!OO!OOOO:configure", &PyType_Type, &element_type, &fill_type,
                          &PyTuple_Type, &kwnames, &dates, &counts, &amounts, &strengths))
        return NULL;
    if (PyTuple_GET_SIZE(kwnames) != N_FIELDS) {
        PyErr_Format(PyExc_ValueError, "configure() needs the %d RxFill field names", N_FIELDS);
        return NULL;
    }
    if (((PyTypeObject *)element_type)->tp_basicsize < (Py_ssize_t)sizeof(struct LxmlElement)) {
        PyErr_SetString(PyExc_TypeError, "configure() needs lxml.etree._Element");
        return NULL;
    }
    Py_INCREF(element_type);
    Py_XSETREF(ELEMENT_TYPE, (PyTypeObject *)element_type);
    Py_INCREF(fill_type);
    Py_XSETREF(CONFIG.fill_type, fill_type);
    Py_INCREF(kwnames);
    Py_XSETREF(CONFIG.kwnames, kwnames);
    Py_INCREF(dates);
    Py_XSETREF(CONFIG.dates, dates);
    Py_INCREF(counts);
    Py_XSETREF(CONFIG.counts, counts);
    Py_INCREF(amounts);
    Py_XSETREF(CONFIG.amounts, amounts);
    Py_INCREF(strengths);
    Py_XSETREF(CONFIG.strengths, strengths);
    Py_RETURN_NONE;
}

static PyMethodDef METHODS[] = {
    {"configure", configure, METH_VARARGS,
     "configure(element_type, fill_type, field_names, dates, counts, amounts, strengths)"},
    {"deeper_than", deeper_than, METH_VARARGS,
     "deeper_than(root, max_depth) -> whether an element nests deeper than max_depth levels"},
    {"read_fills", read_fills, METH_O,
     "read_fills(root) -> list of RxFill, or None when the document needs the Python reading"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {
    PyModuleDef_HEAD_INIT, "_fastread", "Rx fill reading over lxml's libxml2 tree, in C.", -1,
    METHODS,
};

PyMODINIT_FUNC PyInit__fastread(void) {
    STR_STRIP = PyUnicode_InternFromString("strip");
    if (STR_STRIP == NULL) return NULL;
    return PyModule_Create(&MODULE);
}
