/*
 * http_floor.c - the measurement floor of bench/serve.py's latency runs:
 * the least an HTTP server can do, so that wrk's p99 at one connection can
 * be read against what this machine's loopback, scheduler and wrk cost by
 * themselves.  It reads each request (headers, then Content-Length bytes
 * of body) on a kept-alive connection, one blocking thread per connection,
 * and answers a constant JSON body of the size given: no parsing beyond
 * the framing, no scoring, no libmicrohttpd.
 *
 *   http_floor PORT ANSWER_BYTES
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static char answer[8192];
static size_t answer_len;

/* Serve one connection until the client closes it. */
static void *
serve_connection(void *arg)
{
	int			fd = (int) (intptr_t) arg;
	static __thread char buf[1 << 20];
	size_t		have = 0;

	for (;;)
	{
		char	   *end = NULL,
				   *cl;
		size_t		need;
		ssize_t		n;

		while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL)
		{
			if (have == sizeof(buf) || (n = read(fd, buf + have, sizeof(buf) - have)) <= 0)
				goto done;
			have += (size_t) n;
		}
		*end = '\0';
		cl = strcasestr(buf, "\r\nContent-Length:");
		need = (size_t) (end + 4 - buf) + (cl ? strtoul(cl + 17, NULL, 10) : 0);
		if (need > sizeof(buf))
			goto done;
		while (have < need)
		{
			if ((n = read(fd, buf + have, sizeof(buf) - have)) <= 0)
				goto done;
			have += (size_t) n;
		}
		if (write(fd, answer, answer_len) != (ssize_t) answer_len)
			goto done;
		memmove(buf, buf + need, have - need);
		have -= need;
	}
done:
	close(fd);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int			one = 1,
				ls;
	size_t		body;
	int			head;

	if (argc != 3)
	{
		fprintf(stderr, "usage: http_floor PORT ANSWER_BYTES\n");
		return 2;
	}
	body = strtoul(argv[2], NULL, 10);
	if (body < 2 || body > 4096)
		body = 100;
	head = snprintf(answer, sizeof(answer), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
					"Content-Length: %zu\r\n\r\n", body);
	memset(answer + head, ' ', body);
	answer[head] = '{';
	answer[head + body - 1] = '}';
	answer_len = (size_t) head + body;
	a.sin_port = htons((uint16_t) atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *) &a, sizeof(a)) != 0 || listen(ls, 128) != 0)
	{
		perror("http_floor");
		return 1;
	}
	for (;;)
	{
		int			fd = accept(ls, NULL, NULL);
		pthread_t	t;

		if (fd < 0)
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&t, NULL, serve_connection, (void *) (intptr_t) fd) != 0)
			close(fd);
		else
			pthread_detach(t);
	}
}
