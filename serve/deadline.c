/*
 * deadline.c - the request deadline of the daemon's connections: a list
 * of open sockets with the time their current request began, and a sweep
 * that cuts (shutdown()) those whose request is not received whole within
 * the timeout.  libmicrohttpd's own timeout is an idle timeout, reset by
 * every byte, so without this a client sending headers or a body one byte
 * a second holds its connection for ever (slowloris).
 *
 * The list's lock is held from a check to the shutdown() and while an
 * entry is removed; the daemon removes an entry when MHD reports the
 * connection closed, which it does before closing the socket, so a socket
 * shut down is always the entry's own (never a reused descriptor).  No
 * libmicrohttpd here: the unit tests drive it with socket pairs.
 */
#include "serve_int.h"

#include <stdlib.h>
#include <sys/socket.h>

/* One open connection. */
struct MfServeDeadlineEntry
{
	int			fd;
	double		begun;			/* when its current request began */
	bool		busy;			/* being answered: never cut */
	bool		cut;			/* shut down already */
	MfServeDeadlineEntry *prev;
	MfServeDeadlineEntry *next;
};

/* A new empty list (NULL when out of memory). */
MfServeDeadlines *
mf_serve_deadlines_new(void)
{
	MfServeDeadlines *l = calloc(1, sizeof(MfServeDeadlines));

	if (l != NULL && pthread_mutex_init(&l->lock, NULL) != 0)
	{
		free(l);
		return NULL;
	}
	return l;
}

/* Free a list and the entries left in it. */
void
mf_serve_deadlines_free(MfServeDeadlines *l)
{
	if (l == NULL)
		return;
	while (l->head != NULL)
		mf_serve_deadline_remove(l, l->head);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* Add socket fd, its request beginning at now; NULL when out of memory. */
MfServeDeadlineEntry *
mf_serve_deadline_add(MfServeDeadlines *l, int fd, double now)
{
	MfServeDeadlineEntry *e = calloc(1, sizeof(MfServeDeadlineEntry));

	if (e == NULL)
		return NULL;
	e->fd = fd;
	e->begun = now;
	pthread_mutex_lock(&l->lock);
	e->next = l->head;
	if (l->head != NULL)
		l->head->prev = e;
	l->head = e;
	l->n++;
	pthread_mutex_unlock(&l->lock);
	return e;
}

/* Take an entry off the list and free it (e may be NULL). */
void
mf_serve_deadline_remove(MfServeDeadlines *l, MfServeDeadlineEntry *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&l->lock);
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	l->n--;
	pthread_mutex_unlock(&l->lock);
	free(e);
}

/* Mark an entry busy (its request is being answered) or, when not busy,
 * its next request as beginning at now. */
void
mf_serve_deadline_mark(MfServeDeadlines *l, MfServeDeadlineEntry *e, bool busy, double now)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&l->lock);
	e->busy = busy;
	if (!busy)
		e->begun = now;
	pthread_mutex_unlock(&l->lock);
}

/*
 * Shut down every socket whose request began more than timeout seconds
 * before now and is not being answered; the number cut.  *next (may be
 * NULL) gets the seconds until the next entry's deadline (timeout when
 * none waits).
 */
int
mf_serve_deadlines_sweep(MfServeDeadlines *l, double now, double timeout, double *next)
{
	int			cut = 0;
	double		soonest = timeout;

	pthread_mutex_lock(&l->lock);
	for (MfServeDeadlineEntry *e = l->head; e != NULL; e = e->next)
	{
		double		left = e->begun + timeout - now;

		if (e->busy || e->cut)
			continue;
		if (left <= 0)
		{
			shutdown(e->fd, SHUT_RDWR);
			e->cut = true;
			cut++;
		}
		else if (left < soonest)
			soonest = left;
	}
	pthread_mutex_unlock(&l->lock);
	if (next != NULL)
		*next = soonest;
	return cut;
}

/* Number of entries. */
int
mf_serve_deadlines_count(MfServeDeadlines *l)
{
	int			n;

	pthread_mutex_lock(&l->lock);
	n = l->n;
	pthread_mutex_unlock(&l->lock);
	return n;
}
