/*
 * routes.c - THE route table: every endpoint, who may call it, and how it
 * runs (in one transaction, showing a secret once, without a fiber), one
 * line each, in openapi.yaml order.  This is the daemon's single
 * permission table: auth.c checks `roles` and nothing else decides access.
 * A test keeps this table and openapi.yaml equal.
 */
#include "api/app.h"
#include "api/handlers.h"

#define STAFF     (ROLE_ADMIN | ROLE_POS | ROLE_APP)
#define ADMIN_APP (ROLE_ADMIN | ROLE_APP)

const struct route api_routes[] = {
    {HTTP_GET, "/healthz", api_healthz, ROLE_NONE, ROUTE_NO_FIBER},
    {HTTP_GET, "/readyz", api_readyz, ROLE_NONE, 0},
    {HTTP_GET, "/metrics", api_metrics, ROLE_NONE, ROUTE_NO_FIBER},

    {HTTP_GET, "/v1/keys", api_keys_list, ROLE_ADMIN, 0},
    {HTTP_POST, "/v1/keys", api_keys_create, ROLE_ADMIN, ROUTE_TX | ROUTE_SECRET},
    {HTTP_DELETE, "/v1/keys/{id}", api_keys_revoke, ROLE_ADMIN, ROUTE_TX},

    {HTTP_POST, "/v1/members", api_members_create, STAFF, ROUTE_TX},
    {HTTP_GET, "/v1/members", api_members_lookup, STAFF, 0},
    {HTTP_GET, "/v1/members/{id}", api_members_get, STAFF, 0},
    {HTTP_PATCH, "/v1/members/{id}", api_members_update, ADMIN_APP, ROUTE_TX},
    {HTTP_DELETE, "/v1/members/{id}", api_members_erase, ROLE_ADMIN, ROUTE_TX},
    {HTTP_POST, "/v1/members/{id}/tokens", api_member_tokens_create, ADMIN_APP,
     ROUTE_TX | ROUTE_SECRET},
    {HTTP_DELETE, "/v1/members/{id}/tokens", api_member_tokens_revoke, ADMIN_APP, ROUTE_TX},

    {HTTP_GET, "/v1/rules", api_rules_get, ROLE_ADMIN | ROLE_POS, 0},
    {HTTP_PUT, "/v1/rules", api_rules_put, ROLE_ADMIN, ROUTE_TX},
    {HTTP_GET, "/v1/rules/versions", api_rules_versions_list, ROLE_ADMIN, 0},
    {HTTP_GET, "/v1/rules/versions/{n}", api_rules_versions_get, ROLE_ADMIN, 0},

    {HTTP_GET, "/v1/me", api_me_get, ROLE_MEMBER, 0},

    {HTTP_GET, "/v1/rewards", api_rewards_list, STAFF | ROLE_MEMBER, 0},
    {HTTP_POST, "/v1/rewards", api_rewards_create, ROLE_ADMIN, ROUTE_TX},
    {HTTP_PATCH, "/v1/rewards/{id}", api_rewards_update, ROLE_ADMIN, ROUTE_TX},
    {HTTP_POST, "/v1/members/{id}/redemptions", api_member_redemptions_create, STAFF,
     ROUTE_TX | ROUTE_GATHERS},
    {HTTP_GET, "/v1/members/{id}/redemptions", api_member_redemptions_list, STAFF, 0},
    {HTTP_POST, "/v1/me/redemptions", api_me_redemptions_create, ROLE_MEMBER,
     ROUTE_TX | ROUTE_GATHERS},
    {HTTP_GET, "/v1/me/redemptions", api_me_redemptions_list, ROLE_MEMBER, 0},
    {HTTP_POST, "/v1/redemptions/{id}/cancel", api_redemptions_cancel, ROLE_ADMIN | ROLE_POS,
     ROUTE_TX},
    {HTTP_POST, "/v1/members/{id}/adjustments", api_member_adjustments_create, ROLE_ADMIN,
     ROUTE_TX},

    {HTTP_POST, "/v1/purchases/quote", api_purchases_quote, ROLE_ADMIN | ROLE_POS, ROUTE_TX},
    {HTTP_POST, "/v1/purchases", api_purchases_create, ROLE_ADMIN | ROLE_POS,
     ROUTE_TX | ROUTE_GATHERS},
    {HTTP_GET, "/v1/purchases/{id}", api_purchases_get, ROLE_ADMIN | ROLE_POS, 0},
    {HTTP_POST, "/v1/purchases/{id}/returns", api_returns_create, ROLE_ADMIN | ROLE_POS, ROUTE_TX},
    {HTTP_GET, "/v1/members/{id}/purchases", api_member_purchases_list, STAFF, 0},
    {HTTP_GET, "/v1/members/{id}/balance", api_members_balance, STAFF, ROUTE_NO_FIBER},
    {HTTP_GET, "/v1/members/{id}/ledger", api_members_ledger, STAFF, 0},
    {HTTP_GET, "/v1/members/{id}/tier-history", api_member_tier_history, ADMIN_APP, 0},
    {HTTP_GET, "/v1/me/balance", api_me_balance, ROLE_MEMBER, ROUTE_NO_FIBER},
    {HTTP_GET, "/v1/me/ledger", api_me_ledger, ROLE_MEMBER, 0},

    {HTTP_POST, "/v1/rules/simulate", api_rules_simulate, ROLE_ADMIN, ROUTE_TX},

    {HTTP_POST, "/v1/jobs/daily", api_jobs_daily, ROLE_ADMIN, ROUTE_TX},

    {HTTP_POST, "/v1/members/{id}/surveys", api_member_surveys_create, STAFF, ROUTE_TX},
    {HTTP_POST, "/v1/me/surveys", api_me_surveys_create, ROLE_MEMBER, ROUTE_TX},
    {HTTP_POST, "/v1/complaints", api_complaints_create, STAFF, ROUTE_TX},
    {HTTP_GET, "/v1/complaints", api_complaints_list, ROLE_ADMIN, 0},
    {HTTP_GET, "/v1/complaints/{id}", api_complaints_get, ROLE_ADMIN, 0},
    {HTTP_PATCH, "/v1/complaints/{id}", api_complaints_update, ROLE_ADMIN, ROUTE_TX},
    {HTTP_GET, "/v1/reports/kpis", api_reports_kpis, ROLE_ADMIN, 0},
    {HTTP_GET, "/v1/reports/complaints", api_reports_complaints, ROLE_ADMIN, 0},
    /* The dashboard's static files: public, the page asks for the admin key. */
    {HTTP_GET, "/admin/", api_admin_index, ROLE_NONE, ROUTE_NO_FIBER},
    {HTTP_GET, "/admin/{file}", api_admin_file, ROLE_NONE, ROUTE_NO_FIBER},
    {HTTP_GET, "/v1/reports/segments", api_reports_segments, ROLE_ADMIN, 0},
    {HTTP_GET, "/v1/reports/lifecycle", api_reports_lifecycle, ROLE_ADMIN, 0},
    {HTTP_GET, "/v1/reports/concentration", api_reports_concentration, ROLE_ADMIN, 0},
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);
