/* One call per outgoing RTP packet: stamp, number, protect (libsrtp), sendto; and one per
 * packet received: SRTP unprotect (`Unprotector`, at the end).
 *
 * The compiled half of `mosaic.rtc.fastpath` (read its text first). A `Forwarder` belongs
 * to one connection. Once armed (at DTLS connected) it holds: a duplicate of the socket's
 * file descriptor, the remote address, the libsrtp context and `srtp_protect` of the
 * session pylibsrtp made (their addresses, as integers, read from pylibsrtp's cffi binding:
 * no second libsrtp is linked), and asyncio's `transport.sendto` for the cases the kernel
 * does not take the datagram at once. `send` does for one receiver what the pure-Python
 * path does in seven calls (stamp, `SendHistory.number`, `SrtpSender.protect`, asyncio's
 * `sendto`), with the same bytes out; `deliver` sends a datagram already protected.
 *
 * Errors as asyncio's datagram transport handles them: when `sendto` fails (EAGAIN on a
 * full socket buffer, ENOBUFS, anything) the datagram goes to asyncio's `transport.sendto`,
 * which tries again and queues it (EAGAIN) or reports it to the protocol (other errors),
 * exactly as before; from then on every datagram goes that way until asyncio's buffer is
 * empty again (`get_write_buffer_size`), so none overtakes one that is queued.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER_SIZE 1500
#define RTP_TRAILER 16
#define TRANSPORT_SEQUENCE_OFFSET 17
#define EXTENSION_ELEMENT_AT 16
#define WITH_EXTENSION 0x90

typedef int (*protect_fn)(void *context, void *packet, int *length);

typedef struct {
    PyObject_HEAD
    int fd;  /* a duplicate, ours to close; -1 while disarmed */
    struct sockaddr_storage address;
    socklen_t address_length;
    void *context;
    protect_fn protect;
    PyObject *keep;      /* what owns the libsrtp context (the pylibsrtp session) */
    PyObject *error;     /* raised on a libsrtp error status (pylibsrtp.Error) */
    PyObject *sendto;    /* asyncio's transport.sendto */
    PyObject *remote;    /* its address argument */
    PyObject *pending;   /* asyncio's transport.get_write_buffer_size */
    int queued;          /* a datagram went to asyncio: ask it before sending directly */
    /* The connection's SendHistory (transport-wide numbering), once attached. */
    int numbering;
    Py_buffer times, sizes, next;
    uint64_t mask;
    unsigned char element;
    unsigned long long sent, handed_over;
    unsigned char buffer[BUFFER_SIZE];
} Forwarder;

static void
disarm_fields(Forwarder *self)
{
    if (self->fd >= 0) {
        close(self->fd);
        self->fd = -1;
    }
    self->context = NULL;
    self->protect = NULL;
    self->queued = 0;
    Py_CLEAR(self->keep);
    Py_CLEAR(self->error);
    Py_CLEAR(self->sendto);
    Py_CLEAR(self->remote);
    Py_CLEAR(self->pending);
}

static int
Forwarder_init(Forwarder *self, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, ":Forwarder", keywords))
        return -1;
    self->fd = -1;
    return 0;
}

static PyObject *
Forwarder_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Forwarder *self = (Forwarder *)type->tp_alloc(type, 0);
    if (self != NULL)
        self->fd = -1;
    return (PyObject *)self;
}

static void
Forwarder_dealloc(Forwarder *self)
{
    PyObject_GC_UnTrack(self);
    disarm_fields(self);
    if (self->numbering) {
        PyBuffer_Release(&self->times);
        PyBuffer_Release(&self->sizes);
        PyBuffer_Release(&self->next);
        self->numbering = 0;
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Forwarder_traverse(Forwarder *self, visitproc visit, void *arg)
{
    Py_VISIT(self->keep);
    Py_VISIT(self->error);
    Py_VISIT(self->sendto);
    Py_VISIT(self->remote);
    Py_VISIT(self->pending);
    if (self->numbering) {
        Py_VISIT(self->times.obj);
        Py_VISIT(self->sizes.obj);
        Py_VISIT(self->next.obj);
    }
    return 0;
}

static int
Forwarder_clear(Forwarder *self)
{
    disarm_fields(self);
    return 0;
}

/* The remote address as a sockaddr of the socket's family: (host, port) for IPv4,
 * (host, port[, flowinfo, scope_id]) for IPv6. */
static int
parse_address(Forwarder *self, int fd, PyObject *remote)
{
    int family = 0;
    socklen_t size = sizeof(family);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &size) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    const char *host;
    int port;
    unsigned int flowinfo = 0, scope_id = 0;
    if (!PyArg_ParseTuple(remote, "si|II:remote", &host, &port, &flowinfo, &scope_id))
        return -1;
    if (port < 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "port out of range");
        return -1;
    }
    memset(&self->address, 0, sizeof(self->address));
    if (family == AF_INET) {
        struct sockaddr_in *in4 = (struct sockaddr_in *)&self->address;
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &in4->sin_addr) != 1) {
            PyErr_SetString(PyExc_ValueError, "not an IPv4 address");
            return -1;
        }
        self->address_length = sizeof(*in4);
    } else if (family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&self->address;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        in6->sin6_flowinfo = htonl(flowinfo);
        in6->sin6_scope_id = scope_id;
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1) {
            PyErr_SetString(PyExc_ValueError, "not an IPv6 address");
            return -1;
        }
        self->address_length = sizeof(*in6);
    } else {
        PyErr_SetString(PyExc_ValueError, "not an IP socket");
        return -1;
    }
    return 0;
}

static PyObject *
Forwarder_arm(Forwarder *self, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {
        "fd", "remote", "context", "protect", "keep", "error", "sendto", "pending", NULL};
    int fd;
    PyObject *remote, *keep, *error, *sendto, *pending;
    unsigned long long context, protect;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iOKKOOOO:arm", keywords, &fd, &remote,
                                     &context, &protect, &keep, &error, &sendto, &pending))
        return NULL;
    if (context == 0 || protect == 0) {
        PyErr_SetString(PyExc_ValueError, "a null libsrtp context or function");
        return NULL;
    }
    if (!PyCallable_Check(sendto) || !PyCallable_Check(pending)) {
        PyErr_SetString(PyExc_TypeError, "sendto and pending must be callable");
        return NULL;
    }
    Forwarder staged;
    if (parse_address(&staged, fd, remote) < 0)
        return NULL;
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    disarm_fields(self);
    memcpy(&self->address, &staged.address, sizeof(staged.address));
    self->address_length = staged.address_length;
    self->fd = copy;
    self->context = (void *)(uintptr_t)context;
    self->protect = (protect_fn)(uintptr_t)protect;
    Py_INCREF(keep);
    self->keep = keep;
    Py_INCREF(error);
    self->error = error;
    Py_INCREF(sendto);
    self->sendto = sendto;
    Py_INCREF(remote);
    self->remote = remote;
    Py_INCREF(pending);
    self->pending = pending;
    self->queued = 0;
    Py_RETURN_NONE;
}

static PyObject *
Forwarder_disarm(Forwarder *self, PyObject *unused)
{
    disarm_fields(self);
    Py_RETURN_NONE;
}

static int
get_cell(PyObject *array, Py_buffer *view, const char *format, Py_ssize_t itemsize,
         Py_ssize_t count)
{
    if (PyObject_GetBuffer(array, view, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->format == NULL || strcmp(view->format, format) != 0 || view->itemsize != itemsize
        || view->len != itemsize * count) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "expected %zd items of '%s'", count, format);
        return -1;
    }
    return 0;
}

static PyObject *
Forwarder_attach_history(Forwarder *self, PyObject *args)
{
    PyObject *times, *sizes, *next;
    unsigned long long capacity;
    unsigned char element;
    if (!PyArg_ParseTuple(args, "OOOKb:attach_history", &times, &sizes, &next, &capacity,
                          &element))
        return NULL;
    if (capacity == 0 || (capacity & (capacity - 1)) != 0 || capacity > (1u << 15)) {
        PyErr_SetString(PyExc_ValueError, "the capacity is a power of two up to 32768");
        return NULL;
    }
    if (self->numbering) {
        PyErr_SetString(PyExc_ValueError, "a history is already attached");
        return NULL;
    }
    if (get_cell(times, &self->times, "d", sizeof(double), (Py_ssize_t)capacity) < 0)
        return NULL;
    if (get_cell(sizes, &self->sizes, "I", sizeof(unsigned int), (Py_ssize_t)capacity) < 0) {
        PyBuffer_Release(&self->times);
        return NULL;
    }
    if (get_cell(next, &self->next, "q", sizeof(long long), 1) < 0) {
        PyBuffer_Release(&self->times);
        PyBuffer_Release(&self->sizes);
        return NULL;
    }
    self->mask = capacity - 1;
    self->element = element;
    self->numbering = 1;
    Py_RETURN_NONE;
}

/* A protected datagram out: directly, or through asyncio when it holds a queue or the
 * kernel refused. 0, or -1 with an exception set. */
static int
transmit(Forwarder *self, const void *data, Py_ssize_t length)
{
    if (self->queued) {
        PyObject *size = PyObject_CallNoArgs(self->pending);
        if (size == NULL)
            return -1;
        int empty = PyLong_Check(size) && PyLong_AsLong(size) == 0;
        Py_DECREF(size);
        if (empty)
            self->queued = 0;
    }
    if (!self->queued) {
        ssize_t sent = sendto(self->fd, data, (size_t)length, MSG_DONTWAIT,
                              (struct sockaddr *)&self->address, self->address_length);
        if (sent >= 0) {
            self->sent++;
            return 0;
        }
    }
    /* asyncio tries again: it queues on EAGAIN, tells the protocol of other errors. It may
     * keep what it is given, so it gets a copy, not the buffer. */
    PyObject *datagram = PyBytes_FromStringAndSize((const char *)data, length);
    if (datagram == NULL)
        return -1;
    PyObject *sendto = self->sendto, *remote = self->remote;
    Py_INCREF(sendto);
    Py_INCREF(remote);
    self->queued = 1;
    self->handed_over++;
    PyObject *result = PyObject_CallFunctionObjArgs(sendto, datagram, remote, NULL);
    Py_DECREF(sendto);
    Py_DECREF(remote);
    Py_DECREF(datagram);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    return 0;
}

static int
protect_buffer(Forwarder *self, int *length)
{
    int status = self->protect(self->context, self->buffer, length);
    if (status != 0) {
        PyErr_Format(self->error, "libsrtp status %d", status);
        return -1;
    }
    return 0;
}

/* A down track's VP8 renumbering (`DownTrack._vp8_shift`), written into the copy: the
 * PictureID (15 bits with its M bit, or 7) and the TL0PICIDX plus the slot's offsets, at
 * offsets into the packet checked by the caller (0: no such field). */
typedef struct {
    long long picture_at, picture_id, mask, tl0_at, tl0, picture_offset, tl0_offset;
} Vp8Shift;

/* One packet out: ``data`` copied into the buffer, stamped (byte 1: payload type and marker;
 * sequence number, timestamp, SSRC), renumbered (``shift``, if any), numbered when
 * ``numbered`` and it carries the transport-wide element (as `SubscribePeer.send_template`),
 * protected and sent. 0, or -1 with an exception set. */
static int
forward_packet(Forwarder *self, const char *data, Py_ssize_t length, unsigned long first,
               unsigned long sequence, unsigned long timestamp, unsigned long ssrc, double now,
               int numbered, const Vp8Shift *shift)
{
    if (length > BUFFER_SIZE - RTP_TRAILER) {
        PyErr_SetString(PyExc_ValueError, "packet is too long");
        return -1;
    }
    if (length < 12) {
        PyErr_SetString(PyExc_ValueError, "shorter than an RTP header");
        return -1;
    }
    unsigned char *buffer = self->buffer;
    memcpy(buffer, data, (size_t)length);
    buffer[1] = (unsigned char)first;
    buffer[2] = (unsigned char)(sequence >> 8);
    buffer[3] = (unsigned char)sequence;
    buffer[4] = (unsigned char)(timestamp >> 24);
    buffer[5] = (unsigned char)(timestamp >> 16);
    buffer[6] = (unsigned char)(timestamp >> 8);
    buffer[7] = (unsigned char)timestamp;
    buffer[8] = (unsigned char)(ssrc >> 24);
    buffer[9] = (unsigned char)(ssrc >> 16);
    buffer[10] = (unsigned char)(ssrc >> 8);
    buffer[11] = (unsigned char)ssrc;
    if (shift != NULL) {
        if (shift->picture_at) {
            uint64_t out = (uint64_t)(shift->picture_id + shift->picture_offset) & (uint64_t)shift->mask;
            if (shift->mask == 0x7F) {
                buffer[shift->picture_at] = (unsigned char)out;
            } else {
                buffer[shift->picture_at] = (unsigned char)(0x80 | out >> 8);
                buffer[shift->picture_at + 1] = (unsigned char)out;
            }
        }
        if (shift->tl0_at)
            buffer[shift->tl0_at] = (unsigned char)((uint64_t)(shift->tl0 + shift->tl0_offset) & 0xFF);
    }
    if (numbered && self->numbering && length >= TRANSPORT_SEQUENCE_OFFSET + 2
        && buffer[0] == WITH_EXTENSION && buffer[EXTENSION_ELEMENT_AT] == self->element) {
        long long *next = (long long *)self->next.buf;
        long long number = *next;
        uint64_t slot = (uint64_t)number & self->mask;
        ((double *)self->times.buf)[slot] = now;
        ((unsigned int *)self->sizes.buf)[slot] = (unsigned int)length;
        *next = number + 1;
        buffer[TRANSPORT_SEQUENCE_OFFSET] = (unsigned char)(number >> 8);
        buffer[TRANSPORT_SEQUENCE_OFFSET + 1] = (unsigned char)number;
    }
    int protected_length = (int)length;
    if (protect_buffer(self, &protected_length) < 0)
        return -1;
    return transmit(self, self->buffer, protected_length);
}

/* send(template, first, sequence_number, timestamp, ssrc, now, numbered) -> bool
 *
 * ``template`` (bytes-like) out through `forward_packet`. False, with nothing done, while
 * disarmed: the caller takes the pure-Python way. */
static PyObject *
Forwarder_send(Forwarder *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "send takes 7 arguments");
        return NULL;
    }
    if (self->fd < 0)
        Py_RETURN_FALSE;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    unsigned long first = PyLong_AsUnsignedLongMask(args[1]);
    unsigned long sequence = PyLong_AsUnsignedLongMask(args[2]);
    unsigned long timestamp = PyLong_AsUnsignedLongMask(args[3]);
    unsigned long ssrc = PyLong_AsUnsignedLongMask(args[4]);
    double now = PyFloat_AsDouble(args[5]);
    int numbered = PyObject_IsTrue(args[6]);
    int failed = PyErr_Occurred() || numbered < 0
                 || forward_packet(self, view.buf, view.len, first, sequence, timestamp, ssrc,
                                   now, numbered, NULL) < 0;
    PyBuffer_Release(&view);
    if (failed)
        return NULL;
    Py_RETURN_TRUE;
}

/* deliver(datagram): one datagram already protected (RTCP, retransmissions) the same way
 * out, so that it never overtakes, nor is overtaken by, what asyncio queued. */
static PyObject *
Forwarder_deliver(Forwarder *self, PyObject *datagram)
{
    if (self->fd < 0)
        Py_RETURN_FALSE;
    Py_buffer view;
    if (PyObject_GetBuffer(datagram, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    int failed = transmit(self, view.buf, view.len);
    PyBuffer_Release(&view);
    if (failed < 0)
        return NULL;
    Py_RETURN_TRUE;
}

static PyObject *
Forwarder_get_armed(Forwarder *self, void *closure)
{
    return PyBool_FromLong(self->fd >= 0);
}

static PyObject *
Forwarder_get_sent(Forwarder *self, void *closure)
{
    return PyLong_FromUnsignedLongLong(self->sent);
}

static PyObject *
Forwarder_get_handed_over(Forwarder *self, void *closure)
{
    return PyLong_FromUnsignedLongLong(self->handed_over);
}

static PyMethodDef Forwarder_methods[] = {
    {"arm", (PyCFunction)(void (*)(void))Forwarder_arm, METH_VARARGS | METH_KEYWORDS,
     "arm(fd, remote, context, protect, keep, error, sendto, pending): start sending."},
    {"disarm", (PyCFunction)Forwarder_disarm, METH_NOARGS,
     "Stop sending (close the duplicate descriptor, drop every reference)."},
    {"attach_history", (PyCFunction)Forwarder_attach_history, METH_VARARGS,
     "attach_history(times, sizes, next, capacity, element): number as SendHistory does."},
    {"send", (PyCFunction)(void (*)(void))Forwarder_send, METH_FASTCALL,
     "send(template, first, sequence_number, timestamp, ssrc, now, numbered) -> bool"},
    {"deliver", (PyCFunction)Forwarder_deliver, METH_O,
     "deliver(datagram) -> bool: a protected datagram out."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Forwarder_getset[] = {
    {"armed", (getter)Forwarder_get_armed, NULL, "Whether send and deliver send.", NULL},
    {"sent", (getter)Forwarder_get_sent, NULL, "Datagrams the kernel took directly.", NULL},
    {"handed_over", (getter)Forwarder_get_handed_over, NULL,
     "Datagrams handed to asyncio's transport (refused, or behind its queue).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ForwarderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mosaic.rtc._fastpath.Forwarder",
    .tp_basicsize = sizeof(Forwarder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One connection's compiled send path (see mosaic.rtc.fastpath).",
    .tp_new = Forwarder_new,
    .tp_init = (initproc)Forwarder_init,
    .tp_dealloc = (destructor)Forwarder_dealloc,
    .tp_traverse = (traverseproc)Forwarder_traverse,
    .tp_clear = (inquiry)Forwarder_clear,
    .tp_methods = Forwarder_methods,
    .tp_getset = Forwarder_getset,
};

/* Unprotector: the receive side's SRTP, one C call per packet received.
 *
 * pylibsrtp's `Session.unprotect` runs five Python-level steps per packet (a type check, a
 * cffi `int *` made anew, the copy in, the call, the copy out as bytes, and a function that
 * checks the status). Here the same libsrtp context and `srtp_unprotect` (by address, as
 * `Forwarder` calls `srtp_protect`) decrypt in a buffer of our own, and the packet comes back
 * as new bytes: the caller keeps it (the packet cache does). `mosaic.rtc.srtp_in` has the
 * pure-Python fallback and says what it buys. */
typedef struct {
    PyObject_HEAD
    void *context;
    protect_fn unprotect;
    PyObject *keep;   /* what owns the libsrtp context (the pylibsrtp session) */
    PyObject *error;  /* raised on a libsrtp error status (pylibsrtp.Error) */
    unsigned char buffer[BUFFER_SIZE];
} Unprotector;

static int
Unprotector_init(Unprotector *self, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"context", "unprotect", "keep", "error", NULL};
    unsigned long long context, unprotect;
    PyObject *keep, *error;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "KKOO:Unprotector", keywords, &context,
                                     &unprotect, &keep, &error))
        return -1;
    if (context == 0 || unprotect == 0) {
        PyErr_SetString(PyExc_ValueError, "a null libsrtp context or function");
        return -1;
    }
    self->context = (void *)(uintptr_t)context;
    self->unprotect = (protect_fn)(uintptr_t)unprotect;
    Py_INCREF(keep);
    Py_XSETREF(self->keep, keep);
    Py_INCREF(error);
    Py_XSETREF(self->error, error);
    return 0;
}

static void
Unprotector_dealloc(Unprotector *self)
{
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->keep);
    Py_CLEAR(self->error);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Unprotector_traverse(Unprotector *self, visitproc visit, void *arg)
{
    Py_VISIT(self->keep);
    Py_VISIT(self->error);
    return 0;
}

static int
Unprotector_clear(Unprotector *self)
{
    Py_CLEAR(self->keep);
    Py_CLEAR(self->error);
    return 0;
}

/* unprotect(datagram) -> bytes: the RTP packet, decrypted and authenticated; the error class
 * given (pylibsrtp.Error) when libsrtp refuses it, ValueError when it is too long. */
static PyObject *
Unprotector_unprotect(Unprotector *self, PyObject *datagram)
{
    if (self->unprotect == NULL || self->error == NULL) {
        PyErr_SetString(PyExc_ValueError, "not initialised");
        return NULL;
    }
    const char *data;
    Py_ssize_t length;
    Py_buffer view;
    int borrowed = 0;
    if (PyBytes_CheckExact(datagram)) {
        data = PyBytes_AS_STRING(datagram);
        length = PyBytes_GET_SIZE(datagram);
    } else {
        if (PyObject_GetBuffer(datagram, &view, PyBUF_SIMPLE) < 0)
            return NULL;
        data = view.buf;
        length = view.len;
        borrowed = 1;
    }
    if (length > BUFFER_SIZE) {
        if (borrowed)
            PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "packet is too long");
        return NULL;
    }
    memcpy(self->buffer, data, (size_t)length);
    if (borrowed)
        PyBuffer_Release(&view);
    int size = (int)length;
    int status = self->unprotect(self->context, self->buffer, &size);
    if (status != 0) {
        PyErr_Format(self->error, "libsrtp status %d", status);
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)self->buffer, size);
}

static PyMethodDef Unprotector_methods[] = {
    {"unprotect", (PyCFunction)Unprotector_unprotect, METH_O,
     "unprotect(datagram) -> bytes: one SRTP packet decrypted (srtp_unprotect)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject UnprotectorType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mosaic.rtc._fastpath.Unprotector",
    .tp_basicsize = sizeof(Unprotector),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One session's compiled SRTP unprotect (see mosaic.rtc.srtp_in).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Unprotector_init,
    .tp_dealloc = (destructor)Unprotector_dealloc,
    .tp_traverse = (traverseproc)Unprotector_traverse,
    .tp_clear = (inquiry)Unprotector_clear,
    .tp_methods = Unprotector_methods,
};

/* The in-order case of `SequenceRewriter.rewrite`, on the rewriter's own slots.
 *
 * Per receiver of a forwarded packet the rewriter maps (sequence number, timestamp) to the
 * outgoing pair; in the common case (the next packet of the current segment, nothing pending)
 * that is a few additions, which cost ~4,000 instructions in Python (a call, 32-bit integers
 * that are two-digit Python longs, a tuple). `rewrite_in_order` does that case only, reading
 * and writing the very slots the Python methods use (found once by `bind_rewriter` from the
 * class's member descriptors): no second copy of the state. Anything else (a segment about
 * to start, a late or repeated packet, a jump, a value that is not a plain int in 64 bits)
 * returns None untouched, and the caller calls the Python `rewrite`, which stays the one
 * definition of every case. */
static PyTypeObject *lane_type = NULL;
static long long lane_max_jump = 0;
enum { LANE_PENDING, LANE_NEWEST, LANE_NEWEST_EXT, LANE_OUT_EXT, LANE_TS_OFFSET,
       LANE_LAST_TIMESTAMP, LANE_LAST_SEND_TIME, LANE_SLOTS };
static const char *lane_names[LANE_SLOTS] = {
    "_pending", "_newest", "_newest_ext", "_out_ext", "_ts_offset", "last_timestamp",
    "last_send_time"};
static Py_ssize_t lane_offsets[LANE_SLOTS];

/* bind_rewriter(cls, max_jump): where `cls`'s slots are (its own __slots__ members). */
static PyObject *
bind_rewriter(PyObject *module, PyObject *args)
{
    PyObject *cls;
    long long max_jump;
    if (!PyArg_ParseTuple(args, "O!L:bind_rewriter", &PyType_Type, &cls, &max_jump))
        return NULL;
    if (max_jump < 1 || max_jump >= 0x8000) {
        PyErr_SetString(PyExc_ValueError, "max_jump out of range");
        return NULL;
    }
    Py_ssize_t offsets[LANE_SLOTS];
    for (int i = 0; i < LANE_SLOTS; i++) {
        PyObject *descriptor = PyDict_GetItemString(((PyTypeObject *)cls)->tp_dict, lane_names[i]);
        if (descriptor == NULL || !Py_IS_TYPE(descriptor, &PyMemberDescr_Type)) {
            PyErr_Format(PyExc_TypeError, "%s is not a slot of the class", lane_names[i]);
            return NULL;
        }
        PyMemberDescrObject *member = (PyMemberDescrObject *)descriptor;
        if (member->d_common.d_type != (PyTypeObject *)cls || member->d_member->type != T_OBJECT_EX
            || member->d_member->flags != 0) {
            PyErr_Format(PyExc_TypeError, "%s is not a writable object slot", lane_names[i]);
            return NULL;
        }
        offsets[i] = member->d_member->offset;
    }
    Py_INCREF(cls);
    Py_XSETREF(lane_type, (PyTypeObject *)cls);
    memcpy(lane_offsets, offsets, sizeof(offsets));
    lane_max_jump = max_jump;
    Py_RETURN_NONE;
}

#define LANE_SLOT(object, index) ((PyObject **)((char *)(object) + lane_offsets[index]))

/* A slot's or an argument's value as a long long, when it is a plain int that fits.
 *
 * Called a dozen times per receiver of a packet: up to two digits (60 bits: every sequence
 * number, timestamp, offset and counter the lanes read) are read in place, as the API
 * function would after its checks and its call, where the integer's layout is the one of
 * CPython up to 3.11 (sign in the size, 30-bit digits); anything else asks the API. */
static inline int
lane_int(PyObject *value, long long *out)
{
    if (value == NULL || !PyLong_CheckExact(value))
        return 0;
#if PY_VERSION_HEX < 0x030C0000 && PYLONG_BITS_IN_DIGIT == 30
    Py_ssize_t size = Py_SIZE(value);
    const digit *digits = ((PyLongObject *)value)->ob_digit;
    if (size == 0) {
        *out = 0;
        return 1;
    }
    if (size == 1 || size == -1) {
        *out = size * (long long)digits[0];
        return 1;
    }
    if (size == 2 || size == -2) {
        long long magnitude = ((long long)digits[1] << PyLong_SHIFT) | (long long)digits[0];
        *out = size > 0 ? magnitude : -magnitude;
        return 1;
    }
#endif
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(value, &overflow);
    return !overflow && !(*out == -1 && PyErr_Occurred());
}

static void
lane_set(PyObject *object, int index, PyObject *value)
{
    PyObject **slot = LANE_SLOT(object, index);
    PyObject *old = *slot;
    Py_INCREF(value);
    *slot = value;
    Py_XDECREF(old);
}

/* The in-order case on ``rewriter``'s slots for the packet numbered ``sequence`` (its value
 * ``number``) with ``timestamp``: 1 with the outgoing pair in ``out_sequence`` and
 * ``out_timestamp``; 0, nothing changed, for any other case; -1 with an exception set. */
static int
rewrite_core(PyObject *rewriter, PyObject *sequence, long long number, long long timestamp,
             PyObject *now, uint64_t *out_sequence, uint64_t *out_timestamp)
{
    if (lane_type == NULL || Py_TYPE(rewriter) != lane_type)
        return 0;
    if (*LANE_SLOT(rewriter, LANE_PENDING) != Py_False || *LANE_SLOT(rewriter, LANE_LAST_SEND_TIME) == NULL)
        return 0;
    long long newest, newest_ext, out_ext, ts_offset, last_timestamp;
    if (!lane_int(*LANE_SLOT(rewriter, LANE_NEWEST), &newest)
        || !lane_int(*LANE_SLOT(rewriter, LANE_NEWEST_EXT), &newest_ext)
        || !lane_int(*LANE_SLOT(rewriter, LANE_OUT_EXT), &out_ext)
        || !lane_int(*LANE_SLOT(rewriter, LANE_TS_OFFSET), &ts_offset)
        || !lane_int(*LANE_SLOT(rewriter, LANE_LAST_TIMESTAMP), &last_timestamp)) {
        if (PyErr_Occurred())
            PyErr_Clear();
        return 0;
    }
    /* Python's `&` on negative numbers is two's complement: the same as on uint64_t. */
    long long ahead = (long long)(((uint64_t)number - (uint64_t)newest) & 0xFFFF);
    if (ahead == 0 || ahead > lane_max_jump)
        return 0;
    long long next_newest_ext, next_out_ext;
    if (__builtin_add_overflow(newest_ext, ahead, &next_newest_ext)
        || __builtin_add_overflow(out_ext, ahead, &next_out_ext))
        return 0;
    uint64_t out_ts = ((uint64_t)timestamp + (uint64_t)ts_offset) & 0xFFFFFFFFu;
    int later = ((out_ts - (uint64_t)last_timestamp) & 0xFFFFFFFFu) < 0x80000000u;
    /* Every object made before any slot changes: a failure leaves the rewriter as it was. */
    PyObject *newest_ext_value = PyLong_FromLongLong(next_newest_ext);
    PyObject *out_ext_value = PyLong_FromLongLong(next_out_ext);
    PyObject *out_ts_value = later ? PyLong_FromUnsignedLongLong(out_ts) : Py_NewRef(Py_None);
    if (newest_ext_value == NULL || out_ext_value == NULL || out_ts_value == NULL) {
        Py_XDECREF(newest_ext_value);
        Py_XDECREF(out_ext_value);
        Py_XDECREF(out_ts_value);
        return -1;
    }
    lane_set(rewriter, LANE_NEWEST, sequence);
    lane_set(rewriter, LANE_NEWEST_EXT, newest_ext_value);
    lane_set(rewriter, LANE_OUT_EXT, out_ext_value);
    if (later)
        lane_set(rewriter, LANE_LAST_TIMESTAMP, out_ts_value);
    lane_set(rewriter, LANE_LAST_SEND_TIME, now);
    Py_DECREF(newest_ext_value);
    Py_DECREF(out_ext_value);
    Py_DECREF(out_ts_value);
    *out_sequence = (uint64_t)next_out_ext & 0xFFFF;
    *out_timestamp = out_ts;
    return 1;
}

/* rewrite_in_order(rewriter, sequence_number, timestamp, now) -> (seq, ts) | None */
static PyObject *
rewrite_in_order(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "rewrite_in_order takes 4 arguments");
        return NULL;
    }
    long long number, stamp;
    if (!lane_int(args[1], &number) || !lane_int(args[2], &stamp)) {
        if (PyErr_Occurred())
            PyErr_Clear();
        Py_RETURN_NONE;
    }
    uint64_t sequence, timestamp;
    int mapped = rewrite_core(args[0], args[1], number, stamp, args[3], &sequence, &timestamp);
    if (mapped < 0)
        return NULL;
    if (mapped == 0)
        Py_RETURN_NONE;
    return Py_BuildValue("(KK)", (unsigned long long)sequence, (unsigned long long)timestamp);
}

/* The common case of `mosaic.media.wire.rtp.parse_rtp`, compiled.
 *
 * Per packet received the Python parser costs ~14,000 instructions (a dataclass of fifteen
 * fields, two struct reads, a loop over the extension elements). `parse_rtp_common` parses
 * the same way and fills an `RtpHeader` (its slots, found once by `bind_rtp`, every one set
 * as its `__init__` would) when it can tell the packet is well formed and nothing but the
 * audio level, abs-send-time and transport-wide number is asked for. It returns None for
 * everything else: any malformation (the Python parser then raises `MalformedPacket`, the one
 * definition of the errors), MID/RID/RepairedRID asked for (their tokens are the Python
 * parser's), data that is not `bytes`. */
enum { H_PAYLOAD_TYPE, H_MARKER, H_SEQUENCE_NUMBER, H_TIMESTAMP, H_SSRC, H_PAYLOAD_OFFSET,
       H_PAYLOAD_END, H_AUDIO_LEVEL, H_VOICE_ACTIVITY, H_MID, H_RID, H_REPAIRED_RID,
       H_ABS_SEND_TIME, H_TRANSPORT_SEQUENCE, H_VP8_IDS, H_SLOTS };
static const char *header_names[H_SLOTS] = {
    "payload_type", "marker", "sequence_number", "timestamp", "ssrc", "payload_offset",
    "payload_end", "audio_level", "voice_activity", "mid", "rid", "repaired_rid",
    "abs_send_time", "transport_sequence", "vp8_ids"};
enum { I_AUDIO_LEVEL, I_ABS_SEND_TIME, I_MID, I_RID, I_REPAIRED_RID, I_TRANSPORT_CC, I_SLOTS };
static const char *ids_names[I_SLOTS] = {
    "audio_level", "abs_send_time", "mid", "rid", "repaired_rid", "transport_cc"};
static PyTypeObject *header_type = NULL, *ids_type = NULL;
static Py_ssize_t header_offsets[H_SLOTS], ids_offsets[I_SLOTS];

/* The offsets of ``cls``'s slots ``names``; with ``every``, they must be all its slots (a
 * field added to the class and not here would be left unset). */
static int
slot_offsets(PyObject *cls, const char **names, int count, Py_ssize_t *offsets, int every)
{
    PyObject *dict = ((PyTypeObject *)cls)->tp_dict, *key, *value;
    Py_ssize_t position = 0;
    int members = 0;
    while (PyDict_Next(dict, &position, &key, &value))
        members += Py_IS_TYPE(value, &PyMemberDescr_Type);
    if (every && members != count) {
        PyErr_Format(PyExc_TypeError, "%R has %d slots, not %d", cls, members, count);
        return -1;
    }
    for (int i = 0; i < count; i++) {
        PyObject *descriptor = PyDict_GetItemString(dict, names[i]);
        if (descriptor == NULL || !Py_IS_TYPE(descriptor, &PyMemberDescr_Type)) {
            PyErr_Format(PyExc_TypeError, "%s is not a slot of %R", names[i], cls);
            return -1;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)descriptor)->d_member;
        if (((PyMemberDescrObject *)descriptor)->d_common.d_type != (PyTypeObject *)cls
            || member->type != T_OBJECT_EX || member->flags != 0) {
            PyErr_Format(PyExc_TypeError, "%s is not a writable object slot", names[i]);
            return -1;
        }
        offsets[i] = member->offset;
    }
    return 0;
}

/* ``cls``, bound as the class whose slots ``names`` a lane reads and writes: their offsets
 * into ``offsets``, the class into ``*bound``. 0, or -1 with an exception set. */
static int
bind_class(PyObject *cls, const char **names, int count, Py_ssize_t *offsets,
           PyTypeObject **bound)
{
    Py_ssize_t found[32];
    if (!PyType_Check(cls) || count > 32) {
        PyErr_SetString(PyExc_TypeError, "a class");
        return -1;
    }
    if (slot_offsets(cls, names, count, found, 0) < 0)
        return -1;
    Py_INCREF(cls);
    Py_XSETREF(*bound, (PyTypeObject *)cls);
    memcpy(offsets, found, (size_t)count * sizeof(Py_ssize_t));
    return 0;
}

/* bind_rtp(header_cls, ids_cls): `RtpHeader` and `ExtensionIds`. */
static PyObject *
bind_rtp(PyObject *module, PyObject *args)
{
    PyObject *header_cls, *ids_cls;
    if (!PyArg_ParseTuple(args, "O!O!:bind_rtp", &PyType_Type, &header_cls, &PyType_Type,
                          &ids_cls))
        return NULL;
    Py_ssize_t headers[H_SLOTS], ids[I_SLOTS];
    if (slot_offsets(header_cls, header_names, H_SLOTS, headers, 1) < 0
        || slot_offsets(ids_cls, ids_names, I_SLOTS, ids, 1) < 0)
        return NULL;
    if (((PyTypeObject *)header_cls)->tp_alloc == NULL) {
        PyErr_SetString(PyExc_TypeError, "no tp_alloc");
        return NULL;
    }
    Py_INCREF(header_cls);
    Py_XSETREF(header_type, (PyTypeObject *)header_cls);
    Py_INCREF(ids_cls);
    Py_XSETREF(ids_type, (PyTypeObject *)ids_cls);
    memcpy(header_offsets, headers, sizeof(headers));
    memcpy(ids_offsets, ids, sizeof(ids));
    Py_RETURN_NONE;
}

/* An id of the ExtensionIds: 0..255, or -1 when it is anything else. */
static long
extension_id(PyObject *ids, int index)
{
    PyObject *value = *(PyObject **)((char *)ids + ids_offsets[index]);
    if (value == NULL || !PyLong_CheckExact(value))
        return -1;
    long id = PyLong_AsLong(value);
    if (id < 0 || id > 255) {
        PyErr_Clear();
        return -1;
    }
    return id;
}

typedef struct {
    long audio_level, abs_send_time, transport_sequence;  /* -1: None */
    int voice_activity;
} Elements;

/* One element (as `_element`); 0, or -1 when the Python parser would raise. */
static int
element(const unsigned char *d, long ext_id, Py_ssize_t start, Py_ssize_t stop, const long *id,
        Elements *out)
{
    if (ext_id == 0)
        return 0;  /* reserved: no extension's (as `_element`) */
    if (ext_id == id[I_AUDIO_LEVEL]) {
        if (stop == start)
            return -1;
        out->audio_level = d[start] & 0x7F;
        out->voice_activity = d[start] > 0x7F;
    } else if (ext_id == id[I_ABS_SEND_TIME]) {
        if (stop - start != 3)
            return -1;
        out->abs_send_time = (long)d[start] << 16 | (long)d[start + 1] << 8 | d[start + 2];
    } else if (ext_id == id[I_TRANSPORT_CC]) {
        if (stop - start != 2)
            return -1;
        out->transport_sequence = (long)d[start] << 8 | d[start + 1];
    }
    return 0;
}

static PyObject *
optional_long(long value)
{
    if (value < 0)
        Py_RETURN_NONE;
    return PyLong_FromLong(value);
}

/* parse_rtp_common(data, ids) -> RtpHeader | None */
static PyObject *
parse_rtp_common(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "parse_rtp_common takes 2 arguments");
        return NULL;
    }
    PyObject *data = args[0], *ids = args[1];
    if (header_type == NULL || !PyBytes_CheckExact(data) || Py_TYPE(ids) != ids_type)
        Py_RETURN_NONE;
    long id[I_SLOTS];
    int wanted = 0;
    for (int i = 0; i < I_SLOTS; i++) {
        id[i] = extension_id(ids, i);
        if (id[i] < 0)
            Py_RETURN_NONE;
        wanted |= id[i] != 0;
    }
    if (id[I_MID] || id[I_RID] || id[I_REPAIRED_RID])
        Py_RETURN_NONE;
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t size = PyBytes_GET_SIZE(data);
    if (size < 12 || d[0] >> 6 != 2)
        Py_RETURN_NONE;
    unsigned char first = d[0], second = d[1];
    Py_ssize_t end = size;
    if (first & 0x20) {
        if (d[size - 1] == 0)
            Py_RETURN_NONE;
        end -= d[size - 1];
    }
    Py_ssize_t offset = 12 + ((first & 0x0F) << 2);
    if (offset > end)
        Py_RETURN_NONE;
    Py_ssize_t extension_start = 0;
    unsigned int profile = 0;
    if (first & 0x10) {
        if (offset + 4 > end)
            Py_RETURN_NONE;
        profile = (unsigned int)d[offset] << 8 | d[offset + 1];
        Py_ssize_t words = (Py_ssize_t)d[offset + 2] << 8 | d[offset + 3];
        extension_start = offset + 4;
        offset = extension_start + (words << 2);
        if (offset > end)
            Py_RETURN_NONE;
    }
    Elements found = {-1, -1, -1, 0};
    if (extension_start && wanted) {
        Py_ssize_t position = extension_start;
        if (profile == 0xBEDE) {
            while (position < offset) {
                unsigned char byte = d[position++];
                if (byte == 0)
                    continue;
                long ext_id = byte >> 4;
                if (ext_id == 15)
                    break;
                Py_ssize_t stop = position + (byte & 0x0F) + 1;
                if (stop > offset || element(d, ext_id, position, stop, id, &found) < 0)
                    Py_RETURN_NONE;
                position = stop;
            }
        } else if ((profile & 0xFFF0) == 0x1000) {
            while (position < offset) {
                long ext_id = d[position];
                if (ext_id == 0) {
                    position++;
                    continue;
                }
                if (position + 2 > offset)
                    Py_RETURN_NONE;
                Py_ssize_t start = position + 2, stop = start + d[position + 1];
                if (stop > offset || element(d, ext_id, start, stop, id, &found) < 0)
                    Py_RETURN_NONE;
                position = stop;
            }
        }
    }
    PyObject *values[H_SLOTS];
    values[H_PAYLOAD_TYPE] = PyLong_FromLong(second & 0x7F);
    values[H_MARKER] = PyBool_FromLong(second > 0x7F);
    values[H_SEQUENCE_NUMBER] = PyLong_FromLong((long)d[2] << 8 | d[3]);
    values[H_TIMESTAMP] = PyLong_FromUnsignedLong(
        (unsigned long)d[4] << 24 | (unsigned long)d[5] << 16 | (unsigned long)d[6] << 8 | d[7]);
    values[H_SSRC] = PyLong_FromUnsignedLong(
        (unsigned long)d[8] << 24 | (unsigned long)d[9] << 16 | (unsigned long)d[10] << 8 | d[11]);
    values[H_PAYLOAD_OFFSET] = PyLong_FromSsize_t(offset);
    values[H_PAYLOAD_END] = PyLong_FromSsize_t(end);
    values[H_AUDIO_LEVEL] = optional_long(found.audio_level);
    values[H_VOICE_ACTIVITY] = PyBool_FromLong(found.voice_activity);
    values[H_MID] = Py_NewRef(Py_None);
    values[H_RID] = Py_NewRef(Py_None);
    values[H_REPAIRED_RID] = Py_NewRef(Py_None);
    values[H_ABS_SEND_TIME] = optional_long(found.abs_send_time);
    values[H_TRANSPORT_SEQUENCE] = optional_long(found.transport_sequence);
    values[H_VP8_IDS] = Py_NewRef(Py_None);
    PyObject *header = NULL;
    int complete = 1;
    for (int i = 0; i < H_SLOTS; i++)
        complete &= values[i] != NULL;
    if (complete)
        header = header_type->tp_alloc(header_type, 0);
    if (header == NULL) {
        for (int i = 0; i < H_SLOTS; i++)
            Py_XDECREF(values[i]);
        return NULL;
    }
    for (int i = 0; i < H_SLOTS; i++)  /* the references move into the slots */
        *(PyObject **)((char *)header + header_offsets[i]) = values[i];
    return header;
}

/* `mosaic.media.wire.codecs.vp8_picture_ids`, compiled, for a template (bytes or bytearray)
 * and a start offset >= 0: per VP8 packet received ~4,800 instructions in Python. Anything
 * else goes to the Python function given to `bind_vp8`, the one definition of the rest. */
static PyObject *vp8_fallback = NULL;

static PyObject *
bind_vp8(PyObject *module, PyObject *fallback)
{
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "the fallback must be callable");
        return NULL;
    }
    Py_INCREF(fallback);
    Py_XSETREF(vp8_fallback, fallback);
    Py_RETURN_NONE;
}

/* vp8_picture_ids(packet, start) -> (picture_at, picture_id, mask, tl0_at, tl0) | None */
static PyObject *
vp8_picture_ids(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (vp8_fallback == NULL) {
        PyErr_SetString(PyExc_ValueError, "bind_vp8 first");
        return NULL;
    }
    const unsigned char *p;
    Py_ssize_t n, start = -1;
    if (nargs == 2 && PyLong_CheckExact(args[1])) {
        start = PyLong_AsSsize_t(args[1]);
        if (start == -1 && PyErr_Occurred())
            PyErr_Clear();
    }
    if (start >= 0 && PyByteArray_CheckExact(args[0])) {
        p = (const unsigned char *)PyByteArray_AS_STRING(args[0]);
        n = PyByteArray_GET_SIZE(args[0]);
    } else if (start >= 0 && PyBytes_CheckExact(args[0])) {
        p = (const unsigned char *)PyBytes_AS_STRING(args[0]);
        n = PyBytes_GET_SIZE(args[0]);
    } else {
        return PyObject_Vectorcall(vp8_fallback, args, (size_t)nargs, NULL);
    }
    if (n - start < 2 || !(p[start] & 0x80) || !(p[start + 1] & 0xC0))
        Py_RETURN_NONE;
    unsigned char extension = p[start + 1];
    Py_ssize_t position = start + 2, picture_at = 0;
    long picture_id = 0, mask = 0;
    if (extension & 0x80) {  /* I */
        if (position >= n)
            Py_RETURN_NONE;
        picture_at = position;
        if (p[position] & 0x80) {  /* M: 15 bits */
            if (position + 1 >= n)
                Py_RETURN_NONE;
            picture_id = (long)(p[position] & 0x7F) << 8 | p[position + 1];
            mask = 0x7FFF;
            position += 2;
        } else {
            picture_id = p[position];
            mask = 0x7F;
            position += 1;
        }
    }
    Py_ssize_t tl0_at = 0;
    long tl0 = 0;
    if (extension & 0x40) {  /* L */
        if (position >= n)
            Py_RETURN_NONE;
        tl0_at = position;
        tl0 = p[position];
    }
    return Py_BuildValue("(nllnl)", picture_at, picture_id, mask, tl0_at, tl0);
}

/* `ReceptionStats.update` (mosaic/media/sfu/statistics.py), compiled on the object's own
 * slots (bound once by `bind_stats`): RFC 3550 A.1 sequence tracking and A.8 jitter, the
 * same operations in the same order (IEEE doubles both ways; setup.py turns off contracting
 * them into fused multiply-adds, which would round differently). ~4,100 instructions per
 * packet received in Python. It returns False, having changed nothing, for anything but
 * plain ints in 64 bits and floats where the Python method works on them: the caller then
 * calls `update`, the one definition of every case. */
enum { S_CLOCK_RATE, S_BASE_SEQ, S_MAX_SEQ, S_CYCLES, S_RECEIVED, S_EXPECTED_PRIOR,
       S_RECEIVED_PRIOR, S_JITTER, S_LAST_TRANSIT, S_BYTES_RECEIVED, S_SKIPPED, S_SLOTS };
static const char *stats_names[S_SLOTS] = {
    "clock_rate", "base_seq", "max_seq", "cycles", "received", "expected_prior",
    "received_prior", "jitter", "last_transit", "bytes_received", "skipped"};
static PyTypeObject *stats_type = NULL;
static Py_ssize_t stats_offsets[S_SLOTS];

static PyObject *
bind_stats(PyObject *module, PyObject *cls)
{
    if (bind_class(cls, stats_names, S_SLOTS, stats_offsets, &stats_type) < 0)
        return NULL;
    Py_RETURN_NONE;
}

#define STATS_SLOT(object, index) ((PyObject **)((char *)(object) + stats_offsets[index]))

/* The statistics' update on C values: 1 counted; 0 not the common case, nothing changed;
 * -1 with an exception set, nothing changed. */
static int
stats_core(PyObject *stats, long long number, long long timestamp, double arrival,
           long long size)
{
    if (stats_type == NULL || Py_TYPE(stats) != stats_type)
        return 0;
    long long clock_rate, base_seq, max_seq, cycles, received;
    long long expected_prior, received_prior, bytes_received, skipped;
    PyObject *jitter_value = *STATS_SLOT(stats, S_JITTER);
    PyObject *last_value = *STATS_SLOT(stats, S_LAST_TRANSIT);
    if (!lane_int(*STATS_SLOT(stats, S_CLOCK_RATE), &clock_rate)
        || !lane_int(*STATS_SLOT(stats, S_BASE_SEQ), &base_seq)
        || !lane_int(*STATS_SLOT(stats, S_MAX_SEQ), &max_seq)
        || !lane_int(*STATS_SLOT(stats, S_CYCLES), &cycles)
        || !lane_int(*STATS_SLOT(stats, S_RECEIVED), &received)
        || !lane_int(*STATS_SLOT(stats, S_EXPECTED_PRIOR), &expected_prior)
        || !lane_int(*STATS_SLOT(stats, S_RECEIVED_PRIOR), &received_prior)
        || !lane_int(*STATS_SLOT(stats, S_BYTES_RECEIVED), &bytes_received)
        || !lane_int(*STATS_SLOT(stats, S_SKIPPED), &skipped)
        || jitter_value == NULL || !PyFloat_CheckExact(jitter_value) || last_value == NULL
        || (last_value != Py_None && !PyFloat_CheckExact(last_value))
        /* Every sum below stays far inside 64 bits, and every int is exact as a double. */
        || received >= (1LL << 52) || bytes_received >= (1LL << 52) || size < 0
        || size >= (1LL << 32) || clock_rate < 0 || clock_rate >= (1LL << 32)
        || timestamp < -(1LL << 52) || timestamp >= (1LL << 52)
        || cycles >= (1LL << 52) || cycles < -(1LL << 52)
        || number < -(1LL << 52) || number >= (1LL << 52)
        || max_seq < -(1LL << 52) || max_seq >= (1LL << 52)) {
        if (PyErr_Occurred())
            PyErr_Clear();
        return 0;
    }
    long long before[S_SLOTS], after[S_SLOTS];
    before[S_BASE_SEQ] = base_seq;
    before[S_MAX_SEQ] = max_seq;
    before[S_CYCLES] = cycles;
    before[S_RECEIVED] = received;
    before[S_EXPECTED_PRIOR] = expected_prior;
    before[S_RECEIVED_PRIOR] = received_prior;
    before[S_BYTES_RECEIVED] = bytes_received;
    before[S_SKIPPED] = skipped;
    received += 1;
    bytes_received += size;
    if (base_seq < 0) {
        base_seq = max_seq = number;
    } else {
        long long delta = (long long)(((uint64_t)number - (uint64_t)max_seq) & 0xFFFF);
        if (0 < delta && delta < 0x8000) {
            if (number < max_seq)
                cycles += 0x10000;
            max_seq = number;
        } else if (delta > 0xFFFF - 3000 || delta == 0) {
            /* late or duplicate */
        } else {
            base_seq = max_seq = number;
            cycles = 0;
            received = 1;
            expected_prior = received_prior = skipped = 0;
        }
    }
    double transit = arrival * (double)clock_rate - (double)timestamp;
    double jitter = PyFloat_AS_DOUBLE(jitter_value);
    if (last_value != Py_None) {
        double d = fabs(transit - PyFloat_AS_DOUBLE(last_value));
        if (d < (double)(clock_rate * 10))
            jitter += (d - jitter) / 16.0;
    }
    /* New objects for what changed (the rest stays as it is), every one made before any
     * slot changes: a failure leaves the statistics as they were. */
    PyObject *values[S_SLOTS] = {NULL};
    int changed[S_SLOTS] = {0};
    int ints[] = {S_BASE_SEQ, S_MAX_SEQ, S_CYCLES, S_RECEIVED, S_EXPECTED_PRIOR,
                  S_RECEIVED_PRIOR, S_BYTES_RECEIVED, S_SKIPPED};
    after[S_BASE_SEQ] = base_seq;
    after[S_MAX_SEQ] = max_seq;
    after[S_CYCLES] = cycles;
    after[S_RECEIVED] = received;
    after[S_EXPECTED_PRIOR] = expected_prior;
    after[S_RECEIVED_PRIOR] = received_prior;
    after[S_BYTES_RECEIVED] = bytes_received;
    after[S_SKIPPED] = skipped;
    int complete = 1;
    for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++) {
        int i = ints[k];
        if (before[i] != after[i]) {
            values[i] = PyLong_FromLongLong(after[i]);
            changed[i] = 1;
            complete &= values[i] != NULL;
        }
    }
    values[S_JITTER] = PyFloat_FromDouble(jitter);
    values[S_LAST_TRANSIT] = PyFloat_FromDouble(transit);
    changed[S_JITTER] = changed[S_LAST_TRANSIT] = 1;
    complete &= values[S_JITTER] != NULL && values[S_LAST_TRANSIT] != NULL;
    if (!complete) {
        for (int i = 0; i < S_SLOTS; i++)
            Py_XDECREF(values[i]);
        return -1;
    }
    for (int i = 0; i < S_SLOTS; i++) {  /* the references move into the slots */
        if (!changed[i])
            continue;
        PyObject *old = *STATS_SLOT(stats, i);
        *STATS_SLOT(stats, i) = values[i];
        Py_XDECREF(old);
    }
    return 1;
}

/* stats_update(stats, sequence_number, timestamp, arrival, size) -> bool */
static PyObject *
stats_update(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "stats_update takes 5 arguments");
        return NULL;
    }
    long long number, timestamp, size;
    if (!PyFloat_CheckExact(args[3]) || !lane_int(args[1], &number)
        || !lane_int(args[2], &timestamp) || !lane_int(args[4], &size)) {
        if (PyErr_Occurred())
            PyErr_Clear();
        Py_RETURN_FALSE;
    }
    int counted = stats_core(args[0], number, timestamp, PyFloat_AS_DOUBLE(args[3]), size);
    if (counted < 0)
        return NULL;
    return PyBool_FromLong(counted);
}

/* `RtpWriter.template` and `set_abs_send_time` (mosaic/media/wire/rtp.py) in one call, on
 * the writer's and the header's own slots (`bind_writer`; the header's from `bind_rtp`):
 * the outgoing template of a packet received, ~4,700 instructions in Python. None, having
 * made nothing, for anything it does not read itself (a packet without an audio level on a
 * writer without transport-wide numbers, offsets out of the packet, values that are not
 * plain ints, bools and floats): the caller then runs the Python. */
enum { W_LEVEL_OFFSET, W_PREFIX, W_ABS_SEND_TIME_OFFSET, W_TRANSPORT_SEQUENCE_OFFSET, W_SLOTS };
static const char *writer_names[W_SLOTS] = {
    "_level_offset", "_prefix", "abs_send_time_offset", "transport_sequence_offset"};
static PyTypeObject *writer_type = NULL;
static Py_ssize_t writer_offsets[W_SLOTS];

static PyObject *
bind_writer(PyObject *module, PyObject *cls)
{
    if (bind_class(cls, writer_names, W_SLOTS, writer_offsets, &writer_type) < 0)
        return NULL;
    Py_RETURN_NONE;
}

#define SLOT_AT(object, offset) (*(PyObject **)((char *)(object) + (offset)))

/* writer_template(writer, data, header, now) -> bytearray | None */
static PyObject *
writer_template(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "writer_template takes 4 arguments");
        return NULL;
    }
    PyObject *writer = args[0], *data = args[1], *header = args[2], *now = args[3];
    if (writer_type == NULL || header_type == NULL || Py_TYPE(writer) != writer_type
        || Py_TYPE(header) != header_type || !PyBytes_CheckExact(data))
        Py_RETURN_NONE;
    PyObject *prefix = SLOT_AT(writer, writer_offsets[W_PREFIX]);
    PyObject *level = SLOT_AT(header, header_offsets[H_AUDIO_LEVEL]);
    PyObject *voice = SLOT_AT(header, header_offsets[H_VOICE_ACTIVITY]);
    PyObject *abs_at = SLOT_AT(writer, writer_offsets[W_ABS_SEND_TIME_OFFSET]);
    PyObject *sequence_at = SLOT_AT(writer, writer_offsets[W_TRANSPORT_SEQUENCE_OFFSET]);
    long long level_offset, start, stop, level_value = -1, abs_offset = -1;
    if (prefix == NULL || !PyBytes_CheckExact(prefix) || level == NULL || voice == NULL
        || (voice != Py_True && voice != Py_False) || abs_at == NULL || sequence_at == NULL
        || !lane_int(SLOT_AT(writer, writer_offsets[W_LEVEL_OFFSET]), &level_offset)
        || !lane_int(SLOT_AT(header, header_offsets[H_PAYLOAD_OFFSET]), &start)
        || !lane_int(SLOT_AT(header, header_offsets[H_PAYLOAD_END]), &stop)
        || (level != Py_None && !lane_int(level, &level_value))
        || (abs_at != Py_None && !lane_int(abs_at, &abs_offset))) {
        if (PyErr_Occurred())
            PyErr_Clear();
        Py_RETURN_NONE;
    }
    Py_ssize_t prefix_size = PyBytes_GET_SIZE(prefix), size = PyBytes_GET_SIZE(data);
    if (start < 0 || start > stop || stop > size || level_offset < 0
        || level_offset >= prefix_size || (level_offset && level != Py_None
                                           && (level_value < 0 || level_value > 255)))
        Py_RETURN_NONE;
    if (level_offset && level == Py_None && sequence_at == Py_None)
        Py_RETURN_NONE;  /* the template is made anew without the block: Python's */
    double seconds = 0.0;
    long long stamp = 0;
    if (abs_at != Py_None) {
        if (!PyFloat_CheckExact(now) || abs_offset < 0 || abs_offset + 3 > prefix_size)
            Py_RETURN_NONE;
        seconds = PyFloat_AS_DOUBLE(now) * 262144.0;  /* ABS_SEND_TIME_SCALE */
        if (!(seconds > -9.0e18 && seconds < 9.0e18))
            Py_RETURN_NONE;
        stamp = (long long)seconds;  /* int(): toward zero */
    }
    PyObject *template = PyByteArray_FromStringAndSize(NULL, prefix_size + (stop - start));
    if (template == NULL)
        return NULL;
    unsigned char *out = (unsigned char *)PyByteArray_AS_STRING(template);
    memcpy(out, PyBytes_AS_STRING(prefix), (size_t)prefix_size);
    if (level_offset) {
        if (level != Py_None)
            out[level_offset] = (unsigned char)(voice == Py_True ? level_value | 0x80 : level_value);
        else
            out[level_offset - 1] = 0;  /* no level came: the element becomes padding */
    }
    memcpy(out + prefix_size, PyBytes_AS_STRING(data) + start, (size_t)(stop - start));
    if (abs_at != Py_None) {
        uint64_t value = (uint64_t)stamp & 0xFFFFFF;
        out[abs_offset] = (unsigned char)(value >> 16);
        out[abs_offset + 1] = (unsigned char)(value >> 8);
        out[abs_offset + 2] = (unsigned char)value;
    }
    return template;
}

/* The fan-out: `DownTrack.write` for every receiver of a packet, in one call.
 *
 * Per receiver the Python `write` cost ~3,000 instructions around the two compiled calls it
 * makes (the in-order rewrite and `Forwarder.send`): attribute reads, a tuple, two calls
 * from Python. `fanout(downs, template, header, now)` does what `write` does, on the down
 * track's own slots (found once by `bind_fanout`), when the case is the common one: a
 * `DownTrack` whose connection's forwarder is armed, its next packet in order, the VP8
 * fields it carries already numbered since the last switch (an offset is written into the
 * forwarder's copy, never into the shared template). Every other case, and any other sink, gets the Python
 * `write`, checked for before anything changes: the Python stays the one definition. */
enum { D_REWRITER, D_IN_ORDER, D_FORWARD, D_PAYLOAD_TYPE, D_SSRC, D_NUMBERED, D_VP8_PENDING,
       D_VP8_SHIFT, D_PICTURE_OFFSET, D_TL0_OFFSET, D_PACKETS_SENT, D_OCTETS_SENT, D_SLOTS };
static const char *down_names[D_SLOTS] = {
    "rewriter", "_in_order", "_forward", "payload_type", "ssrc", "numbered", "_vp8_pending",
    "_vp8_shift", "_picture_offset", "_tl0_offset", "packets_sent", "octets_sent"};
static PyTypeObject *down_type = NULL;
static Py_ssize_t down_offsets[D_SLOTS];
static PyObject *write_name = NULL;

/* bind_fanout(cls): `DownTrack`. */
static PyObject *
bind_fanout(PyObject *module, PyObject *cls)
{
    if (bind_class(cls, down_names, D_SLOTS, down_offsets, &down_type) < 0)
        return NULL;
    Py_RETURN_NONE;
}

#define DOWN_SLOT(object, index) SLOT_AT(object, down_offsets[index])

/* A counter slot plus ``amount``: 0, or -1 with an exception set. */
static int
add_to_slot(PyObject *down, int index, long long value, long long amount)
{
    PyObject *sum = PyLong_FromLongLong(value + amount);
    if (sum == NULL)
        return -1;
    PyObject **slot = (PyObject **)((char *)down + down_offsets[index]);
    PyObject *old = *slot;
    *slot = sum;
    Py_XDECREF(old);
    return 0;
}

/* The packet as seen by every receiver: read once from the header. */
typedef struct {
    PyObject *template, *sequence, *now;
    long long number, timestamp;
    int marker;
    long long payload_size;
    double now_value;
    /* Its VP8 IDs (`header.vp8_ids`): ``has_ids`` when not None, ``ids_read`` when they are
     * five plain ints (else every receiver gets the Python `write`), ``ids_in_range`` when
     * they are fields a down track may renumber (else only those that renumber do); the
     * offsets in ``ids`` are each receiver's. */
    int has_ids, ids_read, ids_in_range;
    Vp8Shift ids;
} Outgoing;

/* One receiver: 1 written; 0 not the common case, nothing changed (the caller calls
 * `write`); -1 with an exception set. */
static int
fanout_one(PyObject *down, const Outgoing *packet)
{
    if (Py_TYPE(down) != down_type)
        return 0;
    PyObject *forward = DOWN_SLOT(down, D_FORWARD);
    if (forward == NULL || !PyCFunction_Check(forward)
        || ((PyCFunctionObject *)forward)->m_ml->ml_meth != (PyCFunction)(void (*)(void))Forwarder_send)
        return 0;
    PyObject *owner = PyCFunction_GET_SELF(forward);
    if (owner == NULL || !Py_IS_TYPE(owner, &ForwarderType) || ((Forwarder *)owner)->fd < 0)
        return 0;
    PyObject *in_order = DOWN_SLOT(down, D_IN_ORDER), *numbered = DOWN_SLOT(down, D_NUMBERED);
    if (in_order == NULL || in_order == Py_None || (numbered != Py_True && numbered != Py_False))
        return 0;
    long long payload_type, ssrc, packets_sent, octets_sent;
    if (!lane_int(DOWN_SLOT(down, D_PAYLOAD_TYPE), &payload_type)
        || !lane_int(DOWN_SLOT(down, D_SSRC), &ssrc)
        || !lane_int(DOWN_SLOT(down, D_PACKETS_SENT), &packets_sent)
        || !lane_int(DOWN_SLOT(down, D_OCTETS_SENT), &octets_sent)
        || payload_type < 0 || payload_type > 0x7F || ssrc < 0 || ssrc > 0xFFFFFFFFLL
        || packets_sent > LLONG_MAX - 1 || octets_sent > LLONG_MAX - packet->payload_size) {
        if (PyErr_Occurred())
            PyErr_Clear();
        return 0;
    }
    Py_ssize_t length = PyByteArray_GET_SIZE(packet->template);
    Vp8Shift shift;
    const Vp8Shift *shifting = NULL;
    if (packet->has_ids) {
        if (!packet->ids_read)
            return 0;
        shift = packet->ids;
        PyObject *picture_offset = DOWN_SLOT(down, D_PICTURE_OFFSET);
        PyObject *tl0_offset = DOWN_SLOT(down, D_TL0_OFFSET);
        PyObject *pending = DOWN_SLOT(down, D_VP8_PENDING), *shifted = DOWN_SLOT(down, D_VP8_SHIFT);
        if (picture_offset == NULL || tl0_offset == NULL || (pending != Py_True && pending != Py_False)
            || (shifted != Py_True && shifted != Py_False))
            return 0;
        /* `_vp8_begin` sets the offset of a field seen for the first time since a switch: that
         * is Python's. Pending with every field of this packet set (a stream without
         * TL0PICIDX leaves it pending for good), `_vp8_begin` would change nothing. */
        if (pending == Py_True && ((shift.picture_at && picture_offset == Py_None)
                                   || (shift.tl0_at && tl0_offset == Py_None)))
            return 0;
        if (shifted == Py_True) {
            /* `_write_ids(template, ids, picture_offset or 0, tl0_offset or 0)` */
            shift.picture_offset = shift.tl0_offset = 0;
            if ((picture_offset != Py_None && !lane_int(picture_offset, &shift.picture_offset))
                || (tl0_offset != Py_None && !lane_int(tl0_offset, &shift.tl0_offset))) {
                if (PyErr_Occurred())
                    PyErr_Clear();
                return 0;
            }
            if (!packet->ids_in_range || shift.picture_at + (shift.mask == 0x7F ? 0 : 1) >= length
                || shift.tl0_at >= length || shift.picture_offset < 0
                || shift.picture_offset > 0x7FFF || shift.tl0_offset < 0 || shift.tl0_offset > 0xFF)
                return 0;
            shifting = &shift;
        }
    }
    uint64_t sequence, timestamp;
    int mapped = rewrite_core(DOWN_SLOT(down, D_REWRITER), packet->sequence, packet->number,
                              packet->timestamp, packet->now, &sequence, &timestamp);
    if (mapped <= 0)
        return mapped;
    unsigned long first = (unsigned long)(packet->marker ? payload_type | 0x80 : payload_type);
    if (forward_packet((Forwarder *)owner, PyByteArray_AS_STRING(packet->template), length, first,
                       (unsigned long)sequence, (unsigned long)timestamp, (unsigned long)ssrc,
                       packet->now_value, numbered == Py_True, shifting) < 0)
        return -1;
    if (add_to_slot(down, D_PACKETS_SENT, packets_sent, 1) < 0
        || add_to_slot(down, D_OCTETS_SENT, octets_sent, packet->payload_size) < 0)
        return -1;
    return 1;
}

/* fanout(downs, template, header, now): ``down.write(template, header, now)`` for each of
 * ``downs`` (a list, in order), compiled where `fanout_one` can. */
static PyObject *
fanout(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "fanout takes 4 arguments");
        return NULL;
    }
    PyObject *downs = args[0], *header = args[2];
    if (!PyList_CheckExact(downs)) {
        PyErr_SetString(PyExc_TypeError, "fanout takes a list of sinks");
        return NULL;
    }
    Outgoing packet = {.template = args[1], .now = args[3]};
    long long start = 0, stop = 0;
    PyObject *marker = NULL;
    int lane = down_type != NULL && header_type != NULL && Py_IS_TYPE(header, header_type)
               && PyByteArray_CheckExact(packet.template) && PyFloat_CheckExact(packet.now);
    PyObject *ids = NULL;
    if (lane) {
        packet.sequence = SLOT_AT(header, header_offsets[H_SEQUENCE_NUMBER]);
        ids = SLOT_AT(header, header_offsets[H_VP8_IDS]);
        marker = SLOT_AT(header, header_offsets[H_MARKER]);
        lane = ids != NULL && (marker == Py_True || marker == Py_False)
               && lane_int(packet.sequence, &packet.number)
               && lane_int(SLOT_AT(header, header_offsets[H_TIMESTAMP]), &packet.timestamp)
               && lane_int(SLOT_AT(header, header_offsets[H_PAYLOAD_OFFSET]), &start)
               && lane_int(SLOT_AT(header, header_offsets[H_PAYLOAD_END]), &stop)
               && start >= 0 && stop >= start;
        if (PyErr_Occurred())
            PyErr_Clear();
    }
    if (lane && ids != Py_None) {
        Vp8Shift *read = &packet.ids;
        packet.has_ids = 1;
        packet.ids_read = PyTuple_CheckExact(ids) && PyTuple_GET_SIZE(ids) == 5
                          && lane_int(PyTuple_GET_ITEM(ids, 0), &read->picture_at)
                          && lane_int(PyTuple_GET_ITEM(ids, 1), &read->picture_id)
                          && lane_int(PyTuple_GET_ITEM(ids, 2), &read->mask)
                          && lane_int(PyTuple_GET_ITEM(ids, 3), &read->tl0_at)
                          && lane_int(PyTuple_GET_ITEM(ids, 4), &read->tl0);
        if (PyErr_Occurred())
            PyErr_Clear();
        packet.ids_in_range = packet.ids_read && (read->mask == 0x7F || read->mask == 0x7FFF)
                              && read->picture_at >= 0 && read->tl0_at >= 0
                              && read->picture_id >= 0 && read->picture_id <= 0x7FFF
                              && read->tl0 >= 0 && read->tl0 <= 0xFF;
    }
    if (lane) {
        /* Held: a Python `write` in between could replace the header's slots. */
        Py_INCREF(packet.sequence);
        packet.marker = marker == Py_True;
        packet.payload_size = stop - start;
        packet.now_value = PyFloat_AS_DOUBLE(packet.now);
    }
    int failed = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(downs) && !failed; i++) {
        PyObject *down = PyList_GET_ITEM(downs, i);
        Py_INCREF(down);
        int done = lane ? fanout_one(down, &packet) : 0;
        if (done == 0) {
            PyObject *call[4] = {down, args[1], header, args[3]};
            PyObject *result = PyObject_VectorcallMethod(write_name, call, 4, NULL);
            if (result == NULL)
                failed = 1;
            Py_XDECREF(result);
        }
        failed |= done < 0;
        Py_DECREF(down);
    }
    if (lane)
        Py_DECREF(packet.sequence);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

/* The receive side's bookkeeping, compiled: `BitrateMeter.add`, `NackTracker.received` and
 * `PacketCache.store` for a packet received in order.
 *
 * Per packet received the three Python methods cost ~6,800 instructions (three calls, list
 * items that are Python ints and floats). `keep(meter, nack, cache, sequence_number, data,
 * size, now)` does all three on their own slots (found once by `bind_keep`) when each is in
 * its common case: the meter's current bucket, the next number (or a repeat of the newest)
 * with nothing missing, a cache slot that needs no growing. It checks all three before it
 * changes anything and returns False, having changed nothing, for every other case: the
 * caller then calls the three methods, which stay the one definition of every case. */
enum { M_BUCKETS, M_FIRST, M_INDEX, M_SPAN, M_SLOTS };
static const char *meter_names[M_SLOTS] = {"_buckets", "_first", "_index", "_span"};
enum { N_MISSING, N_NEWEST, N_SLOTS };
static const char *nack_names[N_SLOTS] = {"_missing", "_newest"};
enum { C_ARRIVALS, C_DATA, C_HISTORY, C_MASK, C_MAX_MASK, C_NUMBERS, C_SLOTS };
static const char *cache_names[C_SLOTS] = {"_arrivals", "_data", "_history", "_mask", "_max_mask",
                                           "_numbers"};
static PyTypeObject *meter_type = NULL, *nack_type = NULL, *cache_type = NULL;
static Py_ssize_t meter_offsets[M_SLOTS], nack_offsets[N_SLOTS], cache_offsets[C_SLOTS];

/* bind_keep(meter_cls, nack_cls, cache_cls): `BitrateMeter`, `NackTracker`, `PacketCache`. */
static PyObject *
bind_keep(PyObject *module, PyObject *args)
{
    PyObject *meter, *nack, *cache;
    if (!PyArg_ParseTuple(args, "OOO:bind_keep", &meter, &nack, &cache)
        || bind_class(meter, meter_names, M_SLOTS, meter_offsets, &meter_type) < 0
        || bind_class(nack, nack_names, N_SLOTS, nack_offsets, &nack_type) < 0
        || bind_class(cache, cache_names, C_SLOTS, cache_offsets, &cache_type) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Python's ``x // y`` on floats (y > 0): the quotient rounded down, made exact where the
 * division rounds across an integer, as float floor division is. */
static double
float_floor_div(double x, double y)
{
    double remainder = fmod(x, y);
    double quotient = (x - remainder) / y;
    if (remainder != 0.0 && remainder < 0.0)  /* y > 0: the remainder takes y's sign */
        quotient -= 1.0;
    if (quotient == 0.0)
        return copysign(0.0, x / y);
    double floored = floor(quotient);
    return quotient - floored > 0.5 ? floored + 1.0 : floored;
}

/* What `keep_apply` changes, found and made by `keep_check` (``filled``: the meter's bucket's
 * new value, the one object made). */
typedef struct {
    PyObject *buckets, *nack, *numbers, *stored, *arrivals, *sequence, *data, *now, *filled;
    Py_ssize_t bucket, slot;
    int ahead;
} KeepPlan;

/* The common case of all three, checked before anything changes: 1 with ``plan`` made (the
 * caller applies or releases it); 0 not the common case; -1 with an exception set. */
static int
keep_check(PyObject *meter, PyObject *nack, PyObject *cache, PyObject *sequence,
           PyObject *data, long long size, PyObject *now, KeepPlan *plan)
{
    if (meter_type == NULL || Py_TYPE(meter) != meter_type || Py_TYPE(cache) != cache_type
        || (nack != Py_None && Py_TYPE(nack) != nack_type) || !PyFloat_CheckExact(now))
        return 0;
    double at = PyFloat_AS_DOUBLE(now);
    long long number, index, bucket_value, newest = 0, mask, max_mask, held;
    if (!lane_int(sequence, &number) || number < 0 || number > 0xFFFF || size < 0)
        goto not_common;
    /* The meter: the packet falls in the bucket being filled. */
    PyObject *span = SLOT_AT(meter, meter_offsets[M_SPAN]);
    PyObject *buckets = SLOT_AT(meter, meter_offsets[M_BUCKETS]);
    PyObject *first = SLOT_AT(meter, meter_offsets[M_FIRST]);
    if (span == NULL || !PyFloat_CheckExact(span) || !(PyFloat_AS_DOUBLE(span) > 0.0)
        || first == NULL || first == Py_None || buckets == NULL || !PyList_CheckExact(buckets)
        || PyList_GET_SIZE(buckets) == 0
        || !lane_int(SLOT_AT(meter, meter_offsets[M_INDEX]), &index))
        goto not_common;
    double bucket_at = float_floor_div(at, PyFloat_AS_DOUBLE(span));
    if (!(bucket_at > -9.0e18 && bucket_at < 9.0e18) || (long long)bucket_at != index)
        goto not_common;
    Py_ssize_t count = PyList_GET_SIZE(buckets);
    Py_ssize_t bucket = (Py_ssize_t)(index % count);
    if (bucket < 0)
        bucket += count;  /* Python's modulo */
    if (!lane_int(PyList_GET_ITEM(buckets, bucket), &bucket_value)
        || bucket_value > LLONG_MAX - size)
        goto not_common;
    /* The NACK tracker: the next number, or the newest again, and nothing missing. */
    long long ahead = 0;
    if (nack != Py_None) {
        PyObject *missing = SLOT_AT(nack, nack_offsets[N_MISSING]);
        if (missing == NULL || !PyDict_CheckExact(missing) || PyDict_GET_SIZE(missing) != 0
            || !lane_int(SLOT_AT(nack, nack_offsets[N_NEWEST]), &newest))
            goto not_common;
        ahead = (long long)(((uint64_t)number - (uint64_t)newest) & 0xFFFF);
        if (ahead > 1)
            goto not_common;
    }
    /* The cache: the slot takes the packet without growing the ring. */
    PyObject *numbers = SLOT_AT(cache, cache_offsets[C_NUMBERS]);
    PyObject *stored = SLOT_AT(cache, cache_offsets[C_DATA]);
    PyObject *arrivals = SLOT_AT(cache, cache_offsets[C_ARRIVALS]);
    PyObject *history = SLOT_AT(cache, cache_offsets[C_HISTORY]);
    if (numbers == NULL || stored == NULL || arrivals == NULL || history == NULL
        || !PyList_CheckExact(numbers) || !PyList_CheckExact(stored)
        || !PyList_CheckExact(arrivals) || !PyFloat_CheckExact(history)
        || !lane_int(SLOT_AT(cache, cache_offsets[C_MASK]), &mask)
        || !lane_int(SLOT_AT(cache, cache_offsets[C_MAX_MASK]), &max_mask) || mask < 0
        || PyList_GET_SIZE(numbers) != mask + 1 || PyList_GET_SIZE(stored) != mask + 1
        || PyList_GET_SIZE(arrivals) != mask + 1)
        goto not_common;
    Py_ssize_t slot = (Py_ssize_t)(number & mask);
    PyObject *arrived = PyList_GET_ITEM(arrivals, slot);
    if (!lane_int(PyList_GET_ITEM(numbers, slot), &held) || !PyFloat_CheckExact(arrived))
        goto not_common;
    if (held != number && held >= 0 && mask < max_mask
        && at - PyFloat_AS_DOUBLE(arrived) < PyFloat_AS_DOUBLE(history))
        goto not_common;  /* it would overwrite a recent packet: the ring grows, in Python */
    /* Every case is the common one: the one object to make. */
    PyObject *filled = PyLong_FromLongLong(bucket_value + size);
    if (filled == NULL)
        return -1;
    *plan = (KeepPlan){.buckets = buckets, .nack = nack, .numbers = numbers, .stored = stored,
                       .arrivals = arrivals, .sequence = sequence, .data = data, .now = now,
                       .filled = filled, .bucket = bucket, .slot = slot, .ahead = ahead == 1};
    return 1;
not_common:
    if (PyErr_Occurred())
        PyErr_Clear();
    return 0;
}

/* The changes `keep_check` planned; nothing in between may have touched the three. */
static void
keep_apply(const KeepPlan *plan)
{
    PyList_SetItem(plan->buckets, plan->bucket, plan->filled);  /* steals it, drops the old */
    if (plan->ahead) {
        PyObject **newest_slot = (PyObject **)((char *)plan->nack + nack_offsets[N_NEWEST]);
        Py_INCREF(plan->sequence);
        Py_XSETREF(*newest_slot, plan->sequence);
    }
    Py_INCREF(plan->sequence);
    PyList_SetItem(plan->numbers, plan->slot, plan->sequence);
    Py_INCREF(plan->data);
    PyList_SetItem(plan->stored, plan->slot, plan->data);
    Py_INCREF(plan->now);
    PyList_SetItem(plan->arrivals, plan->slot, plan->now);
}

/* keep(meter, nack, cache, sequence_number, data, size, now) -> bool */
static PyObject *
keep(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "keep takes 7 arguments");
        return NULL;
    }
    long long size;
    if (!lane_int(args[5], &size)) {
        if (PyErr_Occurred())
            PyErr_Clear();
        Py_RETURN_FALSE;
    }
    KeepPlan plan;
    int common = keep_check(args[0], args[1], args[2], args[3], args[4], size, args[6], &plan);
    if (common < 0)
        return NULL;
    if (common)
        keep_apply(&plan);
    return PyBool_FromLong(common);
}

/* The whole of `UpStream.receive` (mosaic/media/sfu/up.py) for a packet in its common case.
 *
 * With the statistics, the bookkeeping, the template and the fan-out compiled, what was left
 * of a packet received in Python was the method that calls them (and `template`'s VP8
 * picture tracking): ~40 attribute reads, five calls and their arguments, per packet.
 * `receive(stream, data, header, now)` does it on the stream's own slots (found once by
 * `bind_receive`) when the packet is the common case: media, not padding; the stream not
 * resuming after a silence; no receiver waiting for a keyframe, the picture size known and
 * no keyframe asked for (video); the statistics, the meter, the NACK tracker and the cache
 * in their common cases (`stats_core`, `keep_check`); the template made by
 * `writer_template`. All of that is checked, and the template and the VP8 IDs read, before
 * anything changes: it returns False, having changed nothing, for every other case, and
 * the Python `receive` runs, the one definition. The changes are then made in the Python
 * method's order: statistics, bookkeeping, the time of the last packet, the audio level
 * handed to the track's callback, the VP8 picture numbering, the fan-out. */
enum { R_AUDIO, R_CACHE, R_DOWNS, R_KEYFRAME_WANTED, R_LAST_PACKET, R_METER, R_NACK, R_PENDING,
       R_PICTURE_ID, R_STATS, R_TL0PICIDX, R_TRACK, R_VP8, R_WIDTH, R_WRITER, R_SLOTS };
static const char *stream_names[R_SLOTS] = {
    "audio", "cache", "downs", "keyframe_wanted", "last_packet", "meter", "nack", "pending",
    "picture_id", "stats", "tl0picidx", "track", "vp8", "width", "writer"};
static PyTypeObject *stream_type = NULL;
static Py_ssize_t stream_offsets[R_SLOTS];
static double stream_gone_after = 0.0;
static PyObject *on_audio_level_name = NULL;

#define STREAM_SLOT(object, index) SLOT_AT(object, stream_offsets[index])

/* bind_receive(stream_cls, gone_after): `UpStream` and `LAYER_GONE_AFTER`. */
static PyObject *
bind_receive(PyObject *module, PyObject *args)
{
    PyObject *cls;
    double gone_after;
    if (!PyArg_ParseTuple(args, "Od:bind_receive", &cls, &gone_after)
        || bind_class(cls, stream_names, R_SLOTS, stream_offsets, &stream_type) < 0)
        return NULL;
    stream_gone_after = gone_after;
    Py_RETURN_NONE;
}

/* ``object``'s slot at ``offset`` set to ``value`` (a new reference taken). */
static void
set_slot(PyObject *object, Py_ssize_t offset, PyObject *value)
{
    PyObject **slot = (PyObject **)((char *)object + offset);
    Py_INCREF(value);
    Py_XSETREF(*slot, value);
}

/* The VP8 IDs of a template, read before anything changes (`UpStream.template`). */
typedef struct {
    PyObject *ids;  /* the reader's tuple, or None */
    long long picture_at, picture_id, mask, tl0_at, tl0, newest, tl0picidx;
} Vp8Read;

/* 1 read (``read->ids`` a new reference); 0 not plain ints; -1 with an exception set. */
static int
read_vp8(PyObject *module, PyObject *stream, PyObject *template, long long start,
         long long stop, Vp8Read *read)
{
    PyObject *base = PyLong_FromSsize_t(PyByteArray_GET_SIZE(template) - (Py_ssize_t)(stop - start));
    if (base == NULL)
        return -1;
    PyObject *call[2] = {template, base};
    PyObject *ids = vp8_picture_ids(module, call, 2);
    Py_DECREF(base);
    if (ids == NULL)
        return -1;
    read->ids = ids;
    if (ids == Py_None)
        return 1;
    if (PyTuple_CheckExact(ids) && PyTuple_GET_SIZE(ids) == 5
        && lane_int(PyTuple_GET_ITEM(ids, 0), &read->picture_at)
        && lane_int(PyTuple_GET_ITEM(ids, 1), &read->picture_id)
        && lane_int(PyTuple_GET_ITEM(ids, 2), &read->mask)
        && lane_int(PyTuple_GET_ITEM(ids, 3), &read->tl0_at)
        && lane_int(PyTuple_GET_ITEM(ids, 4), &read->tl0)
        && lane_int(STREAM_SLOT(stream, R_PICTURE_ID), &read->newest)
        && lane_int(STREAM_SLOT(stream, R_TL0PICIDX), &read->tl0picidx)
        && read->newest <= 0x7FFF && read->picture_id >= 0 && read->picture_id <= 0x7FFF
        && read->tl0picidx <= 0xFF && read->tl0 >= 0 && read->tl0 <= 0xFF)
        return 1;
    if (PyErr_Occurred())
        PyErr_Clear();
    read->ids = NULL;  /* the caller lets go of what it holds: not this one twice */
    Py_DECREF(ids);
    return 0;
}

/* `UpStream.template`'s picture tracking: the newest PictureID (a 7-bit one extended to 15
 * bits, nearest the newest) and TL0PICIDX forwarded; ``header.vp8_ids`` set. 0, or -1 with
 * an exception set. Takes ``read->ids``. */
static int
track_vp8(PyObject *stream, PyObject *header, Vp8Read *read)
{
    PyObject *ids = read->ids;
    if (ids == Py_None) {
        Py_DECREF(ids);
        return 0;
    }
    if (read->picture_at) {
        long long newest = read->newest, picture_id = read->picture_id;
        if (read->mask == 0x7F && newest >= 0) {
            long long ahead = (long long)(((uint64_t)picture_id - (uint64_t)newest) & 0x7F);
            if (ahead >= 0x40)
                ahead -= 0x80;
            picture_id = (long long)(((uint64_t)newest + (uint64_t)ahead) & 0x7FFF);
            PyObject *extended = Py_BuildValue("(LLLLL)", read->picture_at, picture_id,
                                               read->mask, read->tl0_at, read->tl0);
            if (extended == NULL) {
                Py_DECREF(ids);
                return -1;
            }
            Py_SETREF(ids, extended);
        }
        uint64_t ahead = ((uint64_t)picture_id - (uint64_t)newest) & 0x7FFF;
        if (newest < 0 || (0 < ahead && ahead < 0x4000))
            set_slot(stream, stream_offsets[R_PICTURE_ID], PyTuple_GET_ITEM(ids, 1));
    }
    if (read->tl0_at) {
        uint64_t ahead = ((uint64_t)read->tl0 - (uint64_t)read->tl0picidx) & 0xFF;
        if (read->tl0picidx < 0 || (0 < ahead && ahead < 0x80))
            set_slot(stream, stream_offsets[R_TL0PICIDX], PyTuple_GET_ITEM(ids, 4));
    }
    set_slot(header, header_offsets[H_VP8_IDS], ids);
    Py_DECREF(ids);
    return 0;
}

/* receive(stream, data, header, now) -> bool */
static PyObject *
receive(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "receive takes 4 arguments");
        return NULL;
    }
    PyObject *stream = args[0], *data = args[1], *header = args[2], *now = args[3];
    if (stream_type == NULL || header_type == NULL || down_type == NULL || vp8_fallback == NULL
        || Py_TYPE(stream) != stream_type || Py_TYPE(header) != header_type
        || !PyBytes_CheckExact(data) || !PyFloat_CheckExact(now))
        Py_RETURN_FALSE;
    double at = PyFloat_AS_DOUBLE(now);
    PyObject *last = STREAM_SLOT(stream, R_LAST_PACKET), *audio = STREAM_SLOT(stream, R_AUDIO);
    PyObject *vp8 = STREAM_SLOT(stream, R_VP8), *downs = STREAM_SLOT(stream, R_DOWNS);
    PyObject *sequence = SLOT_AT(header, header_offsets[H_SEQUENCE_NUMBER]);
    PyObject *level = SLOT_AT(header, header_offsets[H_AUDIO_LEVEL]);
    long long number, timestamp, start, stop, width;
    if (last == NULL || !PyFloat_CheckExact(last) || at - PyFloat_AS_DOUBLE(last) > stream_gone_after
        || (audio != Py_True && audio != Py_False) || (vp8 != Py_True && vp8 != Py_False)
        || downs == NULL || !PyList_CheckExact(downs) || level == NULL
        || !lane_int(sequence, &number)
        || !lane_int(SLOT_AT(header, header_offsets[H_TIMESTAMP]), &timestamp)
        || !lane_int(SLOT_AT(header, header_offsets[H_PAYLOAD_OFFSET]), &start)
        || !lane_int(SLOT_AT(header, header_offsets[H_PAYLOAD_END]), &stop)
        || start == stop || start < 0 || stop < start || stop > PyBytes_GET_SIZE(data))
        goto not_common;  /* padding (start == stop) among them */
    if (audio == Py_False) {
        PyObject *pending = STREAM_SLOT(stream, R_PENDING);
        if (pending == NULL || !PyList_CheckExact(pending) || PyList_GET_SIZE(pending) != 0
            || STREAM_SLOT(stream, R_KEYFRAME_WANTED) != Py_None
            || !lane_int(STREAM_SLOT(stream, R_WIDTH), &width) || width == 0)
            goto not_common;
    }
    PyObject *track = STREAM_SLOT(stream, R_TRACK);
    if (track == NULL)
        goto not_common;
    long long size = PyBytes_GET_SIZE(data);
    KeepPlan plan;
    int common = keep_check(STREAM_SLOT(stream, R_METER), STREAM_SLOT(stream, R_NACK),
                            STREAM_SLOT(stream, R_CACHE), sequence, data, size, now, &plan);
    if (common <= 0)
        return common < 0 ? NULL : Py_NewRef(Py_False);
    /* Held to the end: the audio level's callback and a receiver's `write` run Python, which
     * could replace the stream's list. */
    Py_INCREF(downs);
    PyObject *template = NULL;
    Vp8Read read = {.ids = NULL};
    if (PyList_GET_SIZE(downs) != 0) {
        PyObject *call[4] = {STREAM_SLOT(stream, R_WRITER), data, header, now};
        template = writer_template(module, call, 4);
        if (template == NULL || template == Py_None)
            goto release;
        if (vp8 == Py_True && (common = read_vp8(module, stream, template, start, stop, &read)) <= 0)
            goto release;
    }
    int counted = stats_core(STREAM_SLOT(stream, R_STATS), number, timestamp, at, size);
    if (counted <= 0) {
        common = counted;
        goto release;
    }
    /* From here on, the Python method's changes in its order. */
    keep_apply(&plan);
    set_slot(stream, stream_offsets[R_LAST_PACKET], now);
    if (audio == Py_True && level != Py_None) {
        PyObject *callback = PyObject_GetAttr(track, on_audio_level_name);
        PyObject *call[3] = {track, level, now};
        PyObject *result = callback == NULL ? NULL : PyObject_Vectorcall(callback, call, 3, NULL);
        Py_XDECREF(callback);
        if (result == NULL) {
            Py_XDECREF(read.ids);
            Py_XDECREF(template);
            Py_DECREF(downs);
            return NULL;
        }
        Py_DECREF(result);
    }
    if (template == NULL) {  /* nobody receives it */
        Py_DECREF(downs);
        Py_RETURN_TRUE;
    }
    if (read.ids != NULL && track_vp8(stream, header, &read) < 0) {
        Py_DECREF(template);
        Py_DECREF(downs);
        return NULL;
    }
    PyObject *call[4] = {downs, template, header, now};
    PyObject *result = fanout(module, call, 4);
    Py_DECREF(downs);
    Py_DECREF(template);
    if (result == NULL)
        return NULL;
    Py_DECREF(result);
    Py_RETURN_TRUE;
release:  /* nothing changed: the plan's one object, the template, the IDs let go */
    Py_DECREF(plan.filled);
    Py_XDECREF(template);
    Py_XDECREF(read.ids);
    Py_DECREF(downs);
    if (common < 0 || (template == NULL && PyErr_Occurred()))
        return NULL;
    Py_RETURN_FALSE;
not_common:
    if (PyErr_Occurred())
        PyErr_Clear();
    Py_RETURN_FALSE;
}

static PyMethodDef module_methods[] = {
    {"bind_receive", (PyCFunction)bind_receive, METH_VARARGS,
     "bind_receive(stream_cls, gone_after): the class whose slots receive reads and writes."},
    {"receive", (PyCFunction)(void (*)(void))receive, METH_FASTCALL,
     "receive(stream, data, header, now) -> bool"},
    {"bind_rewriter", (PyCFunction)bind_rewriter, METH_VARARGS,
     "bind_rewriter(cls, max_jump): the class whose slots rewrite_in_order reads and writes."},
    {"rewrite_in_order", (PyCFunction)(void (*)(void))rewrite_in_order, METH_FASTCALL,
     "rewrite_in_order(rewriter, sequence_number, timestamp, now) -> (seq, ts) | None"},
    {"bind_rtp", (PyCFunction)bind_rtp, METH_VARARGS,
     "bind_rtp(header_cls, ids_cls): the classes parse_rtp_common makes and reads."},
    {"parse_rtp_common", (PyCFunction)(void (*)(void))parse_rtp_common, METH_FASTCALL,
     "parse_rtp_common(data, ids) -> RtpHeader | None"},
    {"bind_vp8", (PyCFunction)bind_vp8, METH_O,
     "bind_vp8(fallback): the Python vp8_picture_ids, for what vp8_picture_ids leaves."},
    {"vp8_picture_ids", (PyCFunction)(void (*)(void))vp8_picture_ids, METH_FASTCALL,
     "vp8_picture_ids(packet, start) -> (picture_at, picture_id, mask, tl0_at, tl0) | None"},
    {"bind_stats", (PyCFunction)bind_stats, METH_O,
     "bind_stats(cls): the ReceptionStats class whose slots stats_update reads and writes."},
    {"stats_update", (PyCFunction)(void (*)(void))stats_update, METH_FASTCALL,
     "stats_update(stats, sequence_number, timestamp, arrival, size) -> bool"},
    {"bind_writer", (PyCFunction)bind_writer, METH_O,
     "bind_writer(cls): the RtpWriter class whose slots writer_template reads."},
    {"writer_template", (PyCFunction)(void (*)(void))writer_template, METH_FASTCALL,
     "writer_template(writer, data, header, now) -> bytearray | None"},
    {"bind_fanout", (PyCFunction)bind_fanout, METH_O,
     "bind_fanout(cls): the DownTrack class whose slots fanout reads and writes."},
    {"fanout", (PyCFunction)(void (*)(void))fanout, METH_FASTCALL,
     "fanout(downs, template, header, now): down.write(template, header, now) for each."},
    {"bind_keep", (PyCFunction)bind_keep, METH_VARARGS,
     "bind_keep(meter_cls, nack_cls, cache_cls): the classes whose slots keep reads and writes."},
    {"keep", (PyCFunction)(void (*)(void))keep, METH_FASTCALL,
     "keep(meter, nack, cache, sequence_number, data, size, now) -> bool"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mosaic.rtc._fastpath",
    .m_doc = "The compiled send path of mosaic.rtc.fastpath.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__fastpath(void)
{
    if (PyType_Ready(&ForwarderType) < 0 || PyType_Ready(&UnprotectorType) < 0)
        return NULL;
    if (write_name == NULL && (write_name = PyUnicode_InternFromString("write")) == NULL)
        return NULL;
    if (on_audio_level_name == NULL
        && (on_audio_level_name = PyUnicode_InternFromString("on_audio_level")) == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&ForwarderType);
    if (PyModule_AddObject(m, "Forwarder", (PyObject *)&ForwarderType) < 0) {
        Py_DECREF(&ForwarderType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&UnprotectorType);
    if (PyModule_AddObject(m, "Unprotector", (PyObject *)&UnprotectorType) < 0) {
        Py_DECREF(&UnprotectorType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "BUFFER_SIZE", BUFFER_SIZE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
