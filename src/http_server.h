/*
 * http_server.h - a serving process of the in-database HTTP server (see
 * http_server.c) and the messages it exchanges with its HTTP worker.
 *
 * Pure C: no PostgreSQL header, as the serving process calls no
 * PostgreSQL function.
 */
#ifndef MF_HTTP_SERVER_H
#define MF_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MF_HTTP_MAX_LISTEN 16	/* listening sockets of one server */
#define MF_HTTP_CTL_MSG 1024	/* bytes of one control message, at most */

/* Worker -> server: a new snapshot; the memfd travels as SCM_RIGHTS. */
typedef struct MfHttpCtlSnapshot
{
	uint32_t	kind;			/* MF_HTTP_CTL_SNAPSHOT */
	uint64_t	seq;			/* the snapshot's number */
} MfHttpCtlSnapshot;

#define MF_HTTP_CTL_SNAPSHOT 1

/*
 * Server -> worker, one text per message:
 *   "ready <seq> <names> <versions>"   the snapshot is installed
 *   "error <seq> <message>"            it was refused; the previous stays
 *   "log <message>"                    a line for the server log
 */

/* What a serving process is given. */
typedef struct MfHttpServerArgs
{
	int			ctl;			/* SOCK_SEQPACKET to the worker */
	int			listen_fds[MF_HTTP_MAX_LISTEN];
	int			n_listen;
	size_t		max_body;		/* bytes */
	pid_t		parent;			/* the HTTP worker */
	char		log_dir[1024];	/* prediction log spool (http_spool.c); "" = none */
	struct MfCounters *counters;	/* shared with the worker (MAP_SHARED), or NULL */
	char		probe_token[33];	/* the monitor's canary token (serve.h's MfServeOptions); "" = none */
} MfHttpServerArgs;

/* Serve until SIGTERM or the worker's end; never returns (_exit). */
extern void mf_http_server_main(const MfHttpServerArgs *a) __attribute__((noreturn));

#endif							/* MF_HTTP_SERVER_H */
