/*
 * handlers.h - every route handler, one declaration each, grouped by the
 * file that implements it.  The route table (src/api/routes.c) is the only
 * caller.  All follow handler_fn: 0 with `rs` filled, or -1 with `e` set.
 */
#ifndef LY_API_HANDLERS_H
#define LY_API_HANDLERS_H

#include "http/http.h"

/* health.c */
int api_healthz(struct req *rq, struct resp *rs, struct err *e);
int api_readyz(struct req *rq, struct resp *rs, struct err *e);
int api_metrics(struct req *rq, struct resp *rs, struct err *e);

/* keys.c */
int api_keys_list(struct req *rq, struct resp *rs, struct err *e);
int api_keys_create(struct req *rq, struct resp *rs, struct err *e);
int api_keys_revoke(struct req *rq, struct resp *rs, struct err *e);

/* tokens.c */
int api_member_tokens_create(struct req *rq, struct resp *rs, struct err *e);
int api_member_tokens_revoke(struct req *rq, struct resp *rs, struct err *e);

/* members.c */
int api_members_create(struct req *rq, struct resp *rs, struct err *e);
int api_members_lookup(struct req *rq, struct resp *rs, struct err *e);
int api_members_get(struct req *rq, struct resp *rs, struct err *e);
int api_members_update(struct req *rq, struct resp *rs, struct err *e);
int api_members_erase(struct req *rq, struct resp *rs, struct err *e);
int api_me_get(struct req *rq, struct resp *rs, struct err *e);

/* rules.c */
int api_rules_get(struct req *rq, struct resp *rs, struct err *e);
int api_rules_put(struct req *rq, struct resp *rs, struct err *e);
int api_rules_versions_list(struct req *rq, struct resp *rs, struct err *e);
int api_rules_versions_get(struct req *rq, struct resp *rs, struct err *e);

/* simulate.c */
int api_rules_simulate(struct req *rq, struct resp *rs, struct err *e);

/* rewards.c */
int api_rewards_list(struct req *rq, struct resp *rs, struct err *e);
int api_rewards_create(struct req *rq, struct resp *rs, struct err *e);
int api_rewards_update(struct req *rq, struct resp *rs, struct err *e);

/* redemptions.c */
int api_member_redemptions_create(struct req *rq, struct resp *rs, struct err *e);
int api_member_redemptions_list(struct req *rq, struct resp *rs, struct err *e);
int api_me_redemptions_create(struct req *rq, struct resp *rs, struct err *e);
int api_me_redemptions_list(struct req *rq, struct resp *rs, struct err *e);
int api_redemptions_cancel(struct req *rq, struct resp *rs, struct err *e);

/* adjustments.c */
int api_member_adjustments_create(struct req *rq, struct resp *rs, struct err *e);

/* purchases.c */
int api_purchases_quote(struct req *rq, struct resp *rs, struct err *e);
int api_purchases_create(struct req *rq, struct resp *rs, struct err *e);
int api_purchases_get(struct req *rq, struct resp *rs, struct err *e);
int api_member_purchases_list(struct req *rq, struct resp *rs, struct err *e);

/* returns.c */
int api_returns_create(struct req *rq, struct resp *rs, struct err *e);

/* balance.c */
int api_members_balance(struct req *rq, struct resp *rs, struct err *e);
int api_member_tier_history(struct req *rq, struct resp *rs, struct err *e);
int api_members_ledger(struct req *rq, struct resp *rs, struct err *e);
int api_me_balance(struct req *rq, struct resp *rs, struct err *e);
int api_me_ledger(struct req *rq, struct resp *rs, struct err *e);

/* jobs.c */
int api_jobs_daily(struct req *rq, struct resp *rs, struct err *e);

/* surveys.c */
int api_member_surveys_create(struct req *rq, struct resp *rs, struct err *e);
int api_me_surveys_create(struct req *rq, struct resp *rs, struct err *e);

/* complaints.c */
int api_complaints_create(struct req *rq, struct resp *rs, struct err *e);
int api_complaints_list(struct req *rq, struct resp *rs, struct err *e);
int api_complaints_get(struct req *rq, struct resp *rs, struct err *e);
int api_complaints_update(struct req *rq, struct resp *rs, struct err *e);

/* reports_feedback.c */
int api_reports_kpis(struct req *rq, struct resp *rs, struct err *e);
int api_reports_complaints(struct req *rq, struct resp *rs, struct err *e);

/* admin_static.c */
int api_admin_index(struct req *rq, struct resp *rs, struct err *e);
int api_admin_file(struct req *rq, struct resp *rs, struct err *e);

/* reports_insight.c */
int api_reports_segments(struct req *rq, struct resp *rs, struct err *e);
int api_reports_lifecycle(struct req *rq, struct resp *rs, struct err *e);
int api_reports_concentration(struct req *rq, struct resp *rs, struct err *e);

#endif
