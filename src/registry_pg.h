/*
 * registry_pg.h - OCI registries from inside PostgreSQL (registry_pg.c):
 * what the deploy job calls to push a built image and to copy a verified
 * one, with the credentials of mf.registries / mf.registry_secrets.
 *
 * Contract for callers (the deploy job of sql/deploy.sql's oci target):
 *   - call inside a transaction (the registry row is read with SPI, as the
 *     extension's owner); no SPI connection of the caller's is disturbed;
 *   - on failure these raise an ERROR (SQLSTATE by kind: 28000 credentials
 *     refused, 08006 registry unavailable after retries, 54000 a blob over
 *     the 1 GiB limit, 22023 bad names, 22000 a bad layout, 42704 unknown
 *     registry or image, 08P01 protocol errors, 57014 cancelled); the
 *     detail names the registry, the HTTP status and the registry's error
 *     code, never a secret;
 *   - hooks may be NULL; hooks->cancelled and hooks->progress run inside the
 *     client (libcurl callbacks) and must not raise an ERROR (no longjmp
 *     through libcurl): set a flag and return.  Query cancel and
 *     termination (QueryCancelPending, ProcDiePending) always cancel too;
 *     the pending interrupt is then raised once the client has returned.
 */
#ifndef MF_REGISTRY_PG_H
#define MF_REGISTRY_PG_H

#include "registry.h"

/* Optional callbacks of a push or copy (see the contract above). */
typedef struct MfRegistryHooks
{
	bool		(*cancelled) (void *arg);
	MfRegistryProgress progress;
	void	   *arg;
} MfRegistryHooks;

/*
 * Push the OCI layout directory to <registry>/<repository>:<tag>; returns
 * the image reference by digest, "host[:port]/repository@sha256:<hex>"
 * (palloc'd).  mount_from may name a repository of the same registry that
 * already holds the base layer.
 */
extern char *MfRegistryPush(const char *registry, const char *layout_dir, const char *repository,
							const char *tag, const char *mount_from, const MfRegistryHooks *hooks);

/*
 * Copy <src_registry>/<src_repository>@<digest> to
 * <dst_registry>/<dst_repository> (tagged dst_tag, or by digest when NULL);
 * blobs are mounted when both are one registry.  Returns the destination
 * reference by digest (palloc'd).
 */
extern char *MfRegistryCopy(const char *src_registry, const char *src_repository, const char *digest,
							const char *dst_registry, const char *dst_repository, const char *dst_tag,
							const MfRegistryHooks *hooks);

/* "host[:port]/repository@digest" for a registry URL (palloc'd). */
extern char *MfRegistryImageRef(const char *url, const char *repository, const char *digest);

#endif							/* MF_REGISTRY_PG_H */
