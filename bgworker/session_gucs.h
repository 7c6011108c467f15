/*
 * session_gucs.h - the mf.* settings that SQL functions read in a session
 * (see session_gucs.c).
 */
#ifndef MF_SESSION_GUCS_H
#define MF_SESSION_GUCS_H

/* The values, wherever they were defined. */
typedef struct MfSessionGucs
{
	int			model_cache_mb; /* mf.model_cache_mb */
	bool		predict_simplify;	/* mf.predict_simplify */
	bool		track_predictions;	/* mf.track_predictions */
} MfSessionGucs;

extern MfSessionGucs *MfDefineSessionGucs(void);

#endif							/* MF_SESSION_GUCS_H */
