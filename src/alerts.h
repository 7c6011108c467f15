/*
 * alerts.h - what the monitor worker runs of alerts (src/alert_webhook.c):
 * evaluation of the rules and webhook delivery, both called outside any
 * transaction.
 */
#ifndef MF_ALERTS_H
#define MF_ALERTS_H

/* Evaluate every rule (mf._evaluate_alerts()) in a transaction of its own. */
extern void MfAlertEvaluate(void);
/* POST due webhooks outside any transaction; how many were attempted. */
extern int	MfAlertDeliverWebhooks(void);

#endif							/* MF_ALERTS_H */
