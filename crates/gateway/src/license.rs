//! Stage 3, license: a user (key owner or signed-in user) must hold a seat, or get one now while
//! the pool allows it; service accounts need none (`seats::Seats::check`). A held seat is one map
//! lookup in memory, nothing awaited; a user's first seat on a replica is granted by the database
//! before the request goes on (on SQLite, the one process decides it in memory).

use std::sync::Arc;

use domain::UnixMillis;
use identity::Principal;
use seats::Seats;

use crate::error::GatewayError;

/// Lets the principal through, noting the user's activity, or refuses them with the reason.
pub(crate) async fn license(
    seats: &Arc<Seats>,
    principal: &Principal,
    now: UnixMillis,
) -> Result<(), GatewayError> {
    match (principal.user_id(), principal.entity_id) {
        (Some(user), Some(entity)) => seats
            .check(user, entity, now)
            .await
            .map_err(GatewayError::SeatRequired),
        // Service accounts are applications, not people: they hold no seat.
        _ => Ok(()),
    }
}
