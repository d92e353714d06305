//! Request extractors whose refusals are [`ApiError`]s, so a handler takes what it needs and
//! never sees a rejection: [`Json`] for bodies, [`Query`] and [`Path`] for the URL.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tenpo_protocol::ErrorCode;

use crate::ApiError;

/// A JSON request body (and, as an answer, a JSON body).
///
/// - A `Content-Type` other than JSON is `415`; none at all is read as JSON.
/// - A body that is not JSON is `400 malformed_request`.
/// - JSON that is not an object, or an object of the wrong shape, is `422 invalid_request`.
///   (serde would read a struct from an array of its fields in order: `["s1", null, …]` is
///   refused here, not taken as a request.)
///
/// Nothing has been done when any of these is answered.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        if let Some(kind) = declared
            && !is_json(&kind)
        {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// As an answer: the value as JSON (axum's).
impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Whether a `Content-Type` names JSON (`application/json`, or `application/…+json`).
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a JSON object body into `T` (see [`Json`] for the answers).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(ApiError::malformed("the body is empty: send a JSON object")),
        Some(b'{') => {}
        Some(_) => {
            // Valid JSON of another kind (an array, a string …) is the wrong shape; anything
            // else is not JSON at all.
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                    Ok(_) => ApiError::invalid("the body must be a JSON object"),
                    Err(e) => ApiError::malformed(format!("the body is not valid JSON: {e}")),
                },
            );
        }
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::invalid(format!("the JSON does not fit this endpoint: {e}"))
        }
        _ => ApiError::malformed(format!("the body is not valid JSON: {e}")),
    })
}

/// A query string; one that does not fit the endpoint is `422 invalid_request` with the
/// error body (axum's own extractor, its rejection mapped by `From<QueryRejection>`).
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path parameters; ones that do not fit are `422 invalid_request` with the error body.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Req {
        id: String,
        n: i64,
    }

    #[test]
    fn only_an_object_of_the_right_shape_is_taken() {
        assert_eq!(
            parse_json::<Req>(br#" {"id":"a","n":1}"#).unwrap(),
            Req {
                id: "a".into(),
                n: 1
            }
        );
        let status = |body: &[u8]| parse_json::<Req>(body).unwrap_err().status.as_u16();
        // The array form serde would otherwise accept as this struct.
        assert_eq!(status(br#"["a", 1]"#), 422);
        assert_eq!(status(br#""a""#), 422);
        assert_eq!(status(br#"{"id":"a"}"#), 422);
        assert_eq!(status(br#"{"id":"a","n":1,"x":2}"#), 422);
        assert_eq!(status(b"{id:"), 400);
        assert_eq!(status(b"[1,"), 400);
        assert_eq!(status(b"   "), 400);
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("Application/JSON"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }
}
