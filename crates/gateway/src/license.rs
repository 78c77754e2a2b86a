//! Stage 3, license: a user (key owner or signed-in user) must hold a seat, or get one now while
//! the pool allows it; service accounts need none. Memory only (`seats::Seats::check`): a held
//! seat is one map lookup, and a first assignment is decided in memory and stored by the seat
//! writer, off the request path.

use domain::UnixMillis;
use identity::Principal;
use seats::Seats;

use crate::error::GatewayError;

/// Lets the principal through, noting the user's activity, or refuses them with the reason.
pub(crate) fn license(
    seats: &Seats,
    principal: &Principal,
    now: UnixMillis,
) -> Result<(), GatewayError> {
    match (principal.user_id(), principal.entity_id) {
        (Some(user), Some(entity)) => seats
            .check(user, entity, now)
            .map_err(GatewayError::SeatRequired),
        // Service accounts are applications, not people: they hold no seat.
        _ => Ok(()),
    }
}
