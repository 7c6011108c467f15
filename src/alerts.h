/*
 * alerts.h - alert cycles for workers (src/alert_webhook.c): evaluation of
 * the rules and webhook delivery, both called outside any transaction.
 */
#ifndef MF_ALERTS_H
#define MF_ALERTS_H

/* Evaluate every rule, then deliver due webhooks; false when the cycle failed (logged). */
extern bool MfAlertCycle(void);
/* POST due webhooks outside any transaction; how many were attempted. */
extern int	MfAlertDeliverWebhooks(void);
/* Entry point of the alert worker mf._alert_worker_start() starts. */
extern PGDLLEXPORT void MfAlertWorkerMain(Datum arg);

#endif							/* MF_ALERTS_H */
