// SPDX-License-Identifier: MIT
/*
 * An fio external ioengine on libcio's public API (see cio-fio(7)):
 *
 *   fio --ioengine=external:/path/to/cio-engine.so --cio_backend=uring ...
 *
 * One cio loop per fio job, one cio_req per io_u (made when fio makes its
 * io_us, never per I/O). queue submits and returns FIO_Q_QUEUED; commit
 * hands what is queued to the kernel or the pool; getevents runs the loop
 * until enough callbacks have put their io_u on the completion ring.
 *
 * Built against the headers of the fio source that matches the fio binary
 * that loads it (make fio-engine), with that source's config-host.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cio.h>

#include "fio.h"
#include "optgroup.h"

struct cio_fio_options {
	void *pad;             /* fio: no engine option may sit at offset 0 */
	char *backend;
	unsigned int sqpoll;
	unsigned int fixed;
	unsigned int corrupt_reads;
};

struct cio_fio_data {
	cio_loop *loop;
	struct io_u **done;    /* ring of completed io_us, cap slots */
	unsigned int cap;
	unsigned int head;
	unsigned int count;
	unsigned int reaped;   /* handed to fio by the last getevents */
	unsigned int queued;   /* submitted since the last loop pass */
	int fixed;             /* fio's buffers are registered */
	int corrupt_reads;
};

/* One per io_u; req first, so the callback finds the rest from it. */
struct cio_fio_io {
	cio_req req;
	struct cio_fio_data *d;
	struct io_u *io_u;
};

static struct fio_option options[] = {
	{
		.name     = "cio_backend",
		.lname    = "libcio backend",
		.type     = FIO_OPT_STR_STORE,
		.off1     = offsetof(struct cio_fio_options, backend),
		.help     = "libcio backend: uring, aio, pool or auto",
		.def      = "auto",
		.category = FIO_OPT_C_ENGINE,
		.group    = FIO_OPT_G_INVALID,
	},
	{
		.name     = "cio_sqpoll",
		.lname    = "libcio SQPOLL",
		.type     = FIO_OPT_BOOL,
		.off1     = offsetof(struct cio_fio_options, sqpoll),
		.help     = "Ask for a kernel SQ polling thread (uring backend)",
		.def      = "0",
		.category = FIO_OPT_C_ENGINE,
		.group    = FIO_OPT_G_INVALID,
	},
	{
		.name     = "cio_fixed",
		.lname    = "libcio registered buffers",
		.type     = FIO_OPT_BOOL,
		.off1     = offsetof(struct cio_fio_options, fixed),
		.help     = "Register fio's I/O buffers (cio_register_buffers) and use CIO_FIXED_BUF",
		.def      = "0",
		.category = FIO_OPT_C_ENGINE,
		.group    = FIO_OPT_G_INVALID,
	},
	{
		.name     = "cio_corrupt_reads",
		.lname    = "libcio corrupt reads (test only)",
		.type     = FIO_OPT_BOOL,
		.off1     = offsetof(struct cio_fio_options, corrupt_reads),
		.help     = "Test only: flip a byte of every completed read, so verify must fail",
		.def      = "0",
		.category = FIO_OPT_C_ENGINE,
		.group    = FIO_OPT_G_INVALID,
	},
	{
		.name = NULL,
	},
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void io_done(cio_req *req)
{
	struct cio_fio_io *io = (struct cio_fio_io *)req;
	struct cio_fio_data *d = io->d;
	struct io_u *io_u = io->io_u;

	if (req->res < 0) {
		io_u->error = (int)-req->res;
	} else if (ddir_rw(io_u->ddir)) {
		unsigned long long got = (unsigned long long)req->res;

		if (got > io_u->xfer_buflen) {
			io_u->error = EIO;
		} else {
			io_u->resid = io_u->xfer_buflen - got;
			io_u->error = 0;
			if (d->corrupt_reads && io_u->ddir == DDIR_READ && got)
				((unsigned char *)io_u->xfer_buf)[got / 2] ^= 0x5a;
		}
	} else {
		io_u->error = 0;
	}
	d->done[(d->head + d->count) % d->cap] = io_u;
	d->count++;
}

static enum fio_q_status cio_fio_queue(struct thread_data *td, struct io_u *io_u)
{
	struct cio_fio_data *d = td->io_ops_data;
	struct cio_fio_io *io = io_u->engine_data;
	struct fio_file *f = io_u->file;
	cio_req *req = &io->req;
	int ret;

	fio_ro_check(td, io_u);
	req->opts = 0;
	switch (io_u->ddir) {
	case DDIR_READ:
		if (d->fixed)
			req->opts = CIO_FIXED_BUF;
		ret = cio_read(d->loop, req, f->fd, io_u->xfer_buf, io_u->xfer_buflen,
			       (int64_t)io_u->offset, io_done);
		break;
	case DDIR_WRITE:
		if (d->fixed)
			req->opts = CIO_FIXED_BUF;
		ret = cio_write(d->loop, req, f->fd, io_u->xfer_buf, io_u->xfer_buflen,
				(int64_t)io_u->offset, io_done);
		break;
	case DDIR_SYNC:
		ret = cio_fsync(d->loop, req, f->fd, 0, io_done);
		break;
	case DDIR_DATASYNC:
		ret = cio_fsync(d->loop, req, f->fd, CIO_FSYNC_DATA, io_done);
		break;
	case DDIR_SYNC_FILE_RANGE:
		/* The range fio's own sync engines use: what was written since
		 * the last sync (fio resets first_write after each). */
		ret = cio_sync_file_range(d->loop, req, f->fd, (int64_t)f->first_write,
					  (int64_t)(f->last_write - f->first_write),
					  td->o.sync_file_range, io_done);
		break;
	case DDIR_TRIM:
		ret = cio_fallocate(d->loop, req, f->fd,
				    FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				    (int64_t)io_u->offset, (int64_t)io_u->xfer_buflen, io_done);
		break;
	default:
		ret = -EINVAL;
		break;
	}
	if (ret < 0) {
		io_u->error = -ret;
		td_verror(td, io_u->error, "xfer");
		return FIO_Q_COMPLETED;
	}
	d->queued++;
	return FIO_Q_QUEUED;
}

/* Reads and writes already reach the kernel as they are submitted; a
 * non-blocking pass hands over the rest (syncs, trims) and collects what
 * is done. A transient error leaves the requests queued for the next pass. */
static int cio_fio_commit(struct thread_data *td)
{
	struct cio_fio_data *d = td->io_ops_data;
	int ret;

	if (!d->queued)
		return 0;
	d->queued = 0;
	ret = cio_run(d->loop, CIO_RUN_NOWAIT);
	if (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY)
		ret = 0;
	return ret < 0 ? ret : 0;
}

static int cio_fio_getevents(struct thread_data *td, unsigned int min,
			     unsigned int max, const struct timespec *t)
{
	struct cio_fio_data *d = td->io_ops_data;
	uint64_t deadline = 0;
	unsigned int n;
	int ret;

	d->head = (d->head + d->reaped) % d->cap;
	d->count -= d->reaped;
	d->reaped = 0;
	d->queued = 0;

	if (t)
		deadline = now_ns() + (uint64_t)t->tv_sec * 1000000000u +
			   (uint64_t)t->tv_nsec;
	/* With min > 0 the waiting run below collects whatever is ready as
	 * well: a separate non-blocking pass would only cost a kernel entry. */
	if (!min && d->count < max) {
		ret = cio_run(d->loop, CIO_RUN_NOWAIT);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			return ret;
	}
	while (d->count < min) {
		if (t) {
			uint64_t now = now_ns();

			if (now >= deadline)
				break;
			ret = cio_run_timeout(d->loop, deadline - now);
		} else {
			ret = cio_run(d->loop, CIO_RUN_ONCE);
		}
		if (ret < 0)
			return ret;
		if (ret == 0 && d->count < min)
			break;     /* nothing left in flight: min cannot be met */
	}
	n = d->count < max ? d->count : max;
	d->reaped = n;
	return (int)n;
}

static struct io_u *cio_fio_event(struct thread_data *td, int event)
{
	struct cio_fio_data *d = td->io_ops_data;

	return d->done[(d->head + (unsigned int)event) % d->cap];
}

static void cio_fio_cleanup(struct thread_data *td)
{
	struct cio_fio_data *d = td->io_ops_data;

	if (!d)
		return;
	if (d->loop) {
		struct cio_stats st;

		if (cio_loop_stats(d->loop, &st) == 0)
			dprint(FD_IO, "cio: backend %s submitted=%llu completed=%llu "
			       "fallbacks=%llu pool_jobs=%llu\n", cio_backend(d->loop),
			       (unsigned long long)st.submitted,
			       (unsigned long long)st.completed,
			       (unsigned long long)st.fallbacks,
			       (unsigned long long)st.pool_jobs);
		/* fio quiesces before cleanup; after an error it may not have. */
		if (cio_loop_free(d->loop) == -EBUSY) {
			cio_cancel_all(d->loop);
			while (cio_run(d->loop, CIO_RUN_DEFAULT) > 0)
				;
			cio_loop_free(d->loop);
		}
	}
	free(d->done);
	free(d);
	td->io_ops_data = NULL;
}

static int cio_fio_init(struct thread_data *td)
{
	struct cio_fio_options *o = td->eo;
	struct cio_loop_opts lo = { 0 };
	struct cio_fio_data *d;
	const char *b = o->backend && *o->backend ? o->backend : "auto";
	int ret;

	if (strcmp(b, "auto") && strcmp(b, "uring") && strcmp(b, "aio") &&
	    strcmp(b, "pool")) {
		log_err("cio: cio_backend=%s: want uring, aio, pool or auto\n", b);
		return 1;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	/* At most iodepth io_us are in flight or waiting to be reaped. */
	d->cap = td->o.iodepth + 1;
	d->done = calloc(d->cap, sizeof(*d->done));
	if (!d->done) {
		free(d);
		return 1;
	}
	d->corrupt_reads = o->corrupt_reads != 0;
	lo.entries = td->o.iodepth;
	lo.backend = b;
	if (o->sqpoll)
		lo.flags |= CIO_LOOP_SQPOLL;
	ret = cio_loop_new(&d->loop, &lo);
	if (ret < 0) {
		log_err("cio: cio_loop_new(backend=%s%s): %s\n", b,
			o->sqpoll ? ", sqpoll" : "", strerror(-ret));
		free(d->done);
		free(d);
		return 1;
	}
	td->io_ops_data = d;
	dprint(FD_IO, "cio: backend %s\n", cio_backend(d->loop));
	return 0;
}

/* fio's buffers exist from here on: register them in slices of at most
 * 1 GiB, cio_register_buffers' limit per buffer. */
static int cio_fio_post_init(struct thread_data *td)
{
	struct cio_fio_options *o = td->eo;
	struct cio_fio_data *d = td->io_ops_data;
	const size_t slice = (size_t)1 << 30;
	struct iovec *iov;
	unsigned int n, i;
	size_t left;
	char *p;
	int ret;

	if (!o->fixed)
		return 0;
	if (!td->orig_buffer || !td->orig_buffer_size) {
		log_err("cio: cio_fixed: fio has no I/O buffers to register\n");
		return 1;
	}
	n = (unsigned int)((td->orig_buffer_size + slice - 1) / slice);
	iov = calloc(n, sizeof(*iov));
	if (!iov)
		return 1;
	p = td->orig_buffer;
	left = td->orig_buffer_size;
	for (i = 0; i < n; i++) {
		iov[i].iov_base = p;
		iov[i].iov_len = left < slice ? left : slice;
		p += iov[i].iov_len;
		left -= iov[i].iov_len;
	}
	ret = cio_register_buffers(d->loop, iov, n);
	free(iov);
	if (ret < 0) {
		log_err("cio: cio_register_buffers(%zu bytes): %s\n",
			(size_t)td->orig_buffer_size, strerror(-ret));
		return 1;
	}
	d->fixed = 1;
	return 0;
}

static int cio_fio_io_u_init(struct thread_data *td, struct io_u *io_u)
{
	struct cio_fio_io *io = calloc(1, sizeof(*io));

	if (!io)
		return 1;
	io->d = td->io_ops_data;
	io->io_u = io_u;
	io->req.data = io_u;
	io_u->engine_data = io;
	return 0;
}

static void cio_fio_io_u_free(struct thread_data *td, struct io_u *io_u)
{
	(void)td;
	free(io_u->engine_data);
	io_u->engine_data = NULL;
}

/* fio looks this symbol up by name after dlopen (ioengines.c). */
struct ioengine_ops ioengine = {
	.name               = "cio",
	.version            = FIO_IOOPS_VERSION,
	/* A loop belongs to one thread: no offloaded submission. */
	.flags              = FIO_NO_OFFLOAD,
	.init               = cio_fio_init,
	.post_init          = cio_fio_post_init,
	.queue              = cio_fio_queue,
	.commit             = cio_fio_commit,
	.getevents          = cio_fio_getevents,
	.event              = cio_fio_event,
	.cleanup            = cio_fio_cleanup,
	.open_file          = generic_open_file,
	.close_file         = generic_close_file,
	.get_file_size      = generic_get_file_size,
	.io_u_init          = cio_fio_io_u_init,
	.io_u_free          = cio_fio_io_u_free,
	.option_struct_size = sizeof(struct cio_fio_options),
	.options            = options,
};
