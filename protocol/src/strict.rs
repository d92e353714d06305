//! Lists of request objects that must be JSON objects. serde reads a struct from an array of its
//! fields in order too (`["bento", null, 1, 100]` as a sale line), which no client means and no
//! document describes: such an item is refused with `invalid type: sequence, expected a map`.
//! (A request body that is not an object at all is refused by the servers' extractor.)

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error};

/// `#[serde(deserialize_with = "crate::strict::objects")]` on a `Vec` of request objects.
pub fn objects<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let items = Vec::<serde_json::Map<String, serde_json::Value>>::deserialize(deserializer)?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_json::from_value(serde_json::Value::Object(item))
                .map_err(|e| D::Error::custom(format!("item {i}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Line {
        #[allow(dead_code)]
        sku: String,
        #[allow(dead_code)]
        n: i64,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Req {
        #[serde(deserialize_with = "super::objects")]
        lines: Vec<Line>,
    }

    #[test]
    fn items_must_be_objects() {
        let ok: Req = serde_json::from_str(r#"{"lines":[{"sku":"a","n":1}]}"#).unwrap();
        assert_eq!(ok.lines.len(), 1);
        let e = serde_json::from_str::<Req>(r#"{"lines":[["a",1]]}"#).unwrap_err();
        assert!(e.to_string().contains("expected a map"), "{e}");
        let e = serde_json::from_str::<Req>(r#"{"lines":[{"sku":"a","n":1,"x":0}]}"#).unwrap_err();
        assert!(e.to_string().contains("item 0"), "{e}");
        assert!(e.is_data());
    }
}
