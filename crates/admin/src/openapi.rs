//! The admin API's part of the OpenAPI description (the binary merges the parts): every route of
//! [`crate::router`], described by the `#[utoipa::path]` next to its handler.

use std::collections::BTreeMap;

use utoipa::OpenApi;

/// The admin routes, with their request bodies, query strings and answers.
#[derive(OpenApi)]
#[openapi(
    paths(
        crate::entities::list,
        crate::entities::create,
        crate::entities::set_status,
        crate::users::list,
        crate::users::create,
        crate::content::erase,
        crate::content::read,
        crate::content::purge,
        crate::legal_holds::list,
        crate::legal_holds::place,
        crate::legal_holds::lift,
        crate::role_grants::list,
        crate::role_grants::grant,
        crate::role_grants::revoke,
        crate::sessions::list,
        crate::sessions::revoke,
        crate::sessions::revoke_user,
        crate::login_links::create,
        crate::keys::list,
        crate::keys::create,
        crate::keys::revoke,
        crate::keys::rotate,
        crate::scim_tokens::list,
        crate::scim_tokens::create,
        crate::scim_tokens::revoke,
        crate::seats::pool,
        crate::seats::set_pool,
        crate::seats::set_reservation,
        crate::seats::report,
        crate::limits::list,
        crate::limits::get,
        crate::limits::set,
        crate::limits::delete,
        crate::budgets::list,
        crate::budgets::get,
        crate::budgets::set,
        crate::budgets::delete,
        crate::budgets::reset,
        crate::pool_shares::pools,
        crate::pool_shares::list,
        crate::permissions::list,
        crate::data_policy::effective,
        crate::data_policy::dry_run,
        crate::teams::list,
        crate::seats::reclaim,
        crate::audit_log::verify,
        crate::pool_shares::set,
        crate::audit_log::list,
        crate::audit_log::checkpoints,
        crate::usage::totals,
        crate::usage::active_users,
        crate::usage::latency,
        crate::chargeback::report,
        crate::use_cases::list,
        crate::use_cases::create,
        crate::use_cases::get,
        crate::use_cases::update,
        crate::use_cases::export,
        crate::use_cases::create_version,
        crate::use_cases::update_version,
        crate::use_cases::diff,
        crate::use_cases::transition,
        crate::use_cases::set_rollout,
        crate::use_cases::stats,
        crate::use_cases::transitions,
        crate::canaries::check,
        crate::use_case_documents::add,
        crate::use_case_documents::list,
        crate::use_case_documents::download,
        crate::use_case_documents::delete,
        crate::evaluations::put_suite,
        crate::evaluations::get_suite,
        crate::evaluations::start,
        crate::evaluations::list,
        crate::evaluations::get,
        crate::evaluations::results,
        crate::libraries::create,
        crate::libraries::list,
        crate::libraries::get,
        crate::libraries::delete,
        crate::libraries::add_document,
        crate::libraries::list_documents,
        crate::libraries::delete_document,
        crate::libraries::search,
    ),
    tags(
        (name = "admin", description = "Entities, users, keys, seats, limits, budgets, audit and reports"),
        (name = "use_cases", description = "The AI Factory: use cases, versions, evaluations, rollout, the AI Act register"),
        (name = "libraries", description = "Knowledge libraries: documents searched with the caller's rights, and cited by chat completions"),
    )
)]
pub struct AdminApi;

/// An answer that is one JSON object; its fields are listed in the route's description.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes JSON the handlers write, for the API description"
)]
pub struct Object(BTreeMap<String, serde_json::Value>);

/// An answer listing objects under `data` (with, on some routes, figures beside it).
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes JSON the handlers write, for the API description"
)]
pub struct Listing {
    data: Vec<Object>,
}
