//! OpenAPI documents, generated from the wire types in this crate: the agent's local API
//! ([`agent_api`]) and the hub's ([`hub_api`]: the sync contract terminals speak, the signup and
//! card endpoints the LIFF page calls, and the reference hub's admin API under the `admin` tag).
//!
//! The path items are declarations for the documents only; the servers implement them. Every
//! route a server has is in its document, with every status it can answer (checked by
//! `tests/tests/contract.rs` against the routers, and by Schemathesis in CI against the running
//! servers). Answers any route can give (a bug, a request not answered in time, a refused host)
//! are added to every operation by [`Everywhere`].

mod agent;
mod hub;
mod hub_admin;
mod hub_catalog;

pub use agent::agent_api;
pub use hub::hub_api;

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr};

/// A bearer-token security scheme.
fn bearer(description: &str) -> SecurityScheme {
    SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(description))
            .build(),
    )
}

/// Answers every operation of a server can give, whatever the route: added to each one.
struct Everywhere {
    /// `(status, description)`
    answers: &'static [(&'static str, &'static str)],
}

impl Everywhere {
    fn apply(&self, doc: &mut OpenApi) {
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, description) in self.answers {
                    let response = ResponseBuilder::new()
                        .description(*description)
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ErrorBody")))
                                .build(),
                        )
                        .build();
                    operation
                        .responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert(RefOr::T(response));
                }
            }
        }
    }
}

/// What both servers can answer to any request (tenpo-edge).
const ANY_SERVER: &[(&str, &str)] = &[
    (
        "408",
        "`timeout`: not answered within the server's request limit; send it again",
    ),
    (
        "500",
        "`internal`: the server hit a bug with this request; nothing was changed (see its log)",
    ),
];

#[cfg(test)]
mod tests;
