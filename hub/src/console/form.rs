//! A console form as posted (`application/x-www-form-urlencoded`): its fields by name, the
//! first of each. Anything that is not such a form is refused before a handler sees it.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};

use super::error::ConsoleError;

/// A posted form.
#[derive(Debug, Clone, Default)]
pub struct Form {
    fields: HashMap<String, String>,
}

impl Form {
    /// The form of a body's bytes.
    pub fn parse(body: &[u8]) -> Form {
        let mut fields = HashMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            fields
                .entry(k.into_owned())
                .or_insert_with(|| v.into_owned());
        }
        Form { fields }
    }

    /// The field `name`, as sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// The field `name`, trimmed; empty or absent is `None`.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let form_type = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !form_type {
            return Err(ConsoleError::BadRequest(
                "send the page's form (application/x-www-form-urlencoded)".into(),
            ));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|_| ConsoleError::TooLarge)?;
        Ok(Form::parse(&body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_once_each() {
        let f = Form::parse(b"reason=%E7%B4%9B%E5%A4%B1&points=-5&points=9&blank=+");
        assert_eq!(f.get("reason"), Some("紛失"));
        assert_eq!(f.get("points"), Some("-5"), "the first of a repeated field");
        assert_eq!(f.text("blank"), None);
        assert_eq!(f.get("missing"), None);
        assert_eq!(
            Form::parse(b"\xff\xfe=%zz").get("x"),
            None,
            "junk is no field"
        );
    }
}
