//! Who is calling: the bearer API key, looked up in the in-memory directory (never the database),
//! or, when sign-in is configured, the identity provider's access token with the roles its claims
//! map to. The session cookie is not accepted here: admin routes change state, and a cookie rides
//! along on requests another site makes the browser send. The console, which checks its own
//! CSRF tokens, calls in process for the person signed in to it (`access::Vouched`); when its page
//! gathers its reads' audit events to record them together (`access::PageReads`), the caller
//! carries them, and [`Caller::record_read`] leaves each read's event there (and the page's reads
//! share one read of the entities, [`Caller::entities`]).

use std::sync::Arc;

use access::PageReads;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use domain::{AuditEvent, Entity};
use identity::Principal;

use crate::{AdminError, AdminState};

/// The authenticated caller of an admin route, and the console page whose reads it makes, if
/// any. Extracted before the body is read, so an unauthenticated request is refused without
/// parsing anything it sent.
pub(crate) struct Caller(pub Arc<Principal>, Option<Arc<PageReads>>);

impl Caller {
    /// The audit actor: the caller's key id, or the signed-in user's id.
    pub(crate) fn actor(&self) -> String {
        self.0.actor()
    }

    /// Audits a successful read: `event` is appended now, or, for a read of a console page that
    /// gathers its reads, left with the page's others, which the page records together before
    /// it shows what they read.
    pub(crate) async fn record_read(
        &self,
        state: &AdminState,
        event: AuditEvent,
    ) -> Result<(), AdminError> {
        match &self.1 {
            Some(page) => page.gather(event),
            None => {
                state.store.append_audit(&event).await?;
            }
        }
        Ok(())
    }
}

impl Caller {
    /// The entities, for naming groups or choosing what the caller sees: read once for all the
    /// reads of a console page, else read now.
    pub(crate) async fn entities(&self, state: &AdminState) -> Result<Vec<Entity>, AdminError> {
        Ok(match &self.1 {
            Some(page) => page.entities(&state.store).await?,
            None => state.store.list_entities().await?,
        })
    }
}

impl FromRequestParts<AdminState> for Caller {
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        // The console's requests, sent in process for a person it signed in and checked.
        if let Some(access::Vouched(principal)) = parts.extensions.get::<access::Vouched>() {
            let page = parts.extensions.get::<Arc<PageReads>>().cloned();
            return Ok(Caller(Arc::clone(principal), page));
        }
        access::authenticate(
            &state.directory,
            state.sign_in.as_deref(),
            &parts.headers,
            access::SessionCookie::Refused,
        )
        .await
        .map(|principal| Caller(principal, None))
        .map_err(|refused| match refused {
            access::Refused::Missing => AdminError::MissingKey,
            access::Refused::Key(identity::KeyRefused::Unknown) => AdminError::UnknownKey,
            access::Refused::Key(identity::KeyRefused::Expired) => AdminError::KeyExpired,
            access::Refused::SignIn(error) => AdminError::SignIn(error),
        })
    }
}
