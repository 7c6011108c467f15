/*
 * privileges.h - the acting role, user SQL run with its author's rights,
 * catalog reads as the extension's owner (privileges.c).
 */
#ifndef MF_PRIVILEGES_H
#define MF_PRIVILEGES_H

/* What a switch of role saved, to be restored. */
typedef struct MfRunAs
{
	Oid			user;
	int			sec;
	int			guc_level;
} MfRunAs;

extern void MfCallerPush(Oid role, const char *search_path);
extern void MfCallerPop(void);
extern Oid	MfCaller(void);
extern const char *MfCallerSearchPath(void);

extern void MfRunAsBegin(MfRunAs *save, Oid role, const char *search_path);
extern void MfRunAsEnd(MfRunAs *save);
extern void MfAsOwnerBegin(MfRunAs *save);
#define MfAsOwnerEnd(save) MfRunAsEnd(save)
extern void MfRequireReader(const char *what);

#endif							/* MF_PRIVILEGES_H */
