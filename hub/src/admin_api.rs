//! The admin API's wire types (`/v1/admin/...`): they live in `tenpo_protocol::admin`, beside
//! the other wire types, so the hub's OpenAPI document describes them.

pub use tenpo_protocol::admin::*;
