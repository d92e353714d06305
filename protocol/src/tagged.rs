//! Reading an enum whose variant is named by a field inside its object
//! (`{"kind":"member","member":{…}}`) without copying the object first.
//!
//! serde's derived reader for such an enum copies every object whole into a buffer of its own,
//! finds the tag, then reads the variant from that copy: a first sync of a million members
//! spent about a second of the agent's CPU there (docs/benchmarks.md), and the hub does the
//! same for every event pushed to it. Every writer here puts the tag first (serde writes a tag
//! before the fields), so [`deserialize`] takes the tag and then the variant's fields straight
//! from the input. An object with its tag elsewhere is still read, through a JSON copy. Fields a
//! variant does not know are ignored, as serde's reader ignores them.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

/// An enum tagged inside its object, read by [`deserialize`].
pub(crate) trait Tagged: Sized {
    /// The field that names the variant.
    const TAG: &'static str;
    /// What the input should have been, for errors.
    const EXPECTING: &'static str;
    /// The variant `kind` names, read from the object's other fields; an unknown `kind` is
    /// `de::Error::unknown_variant`.
    fn read<'de, D: Deserializer<'de>>(kind: &str, fields: D) -> Result<Self, D::Error>;
}

/// Reads a `T` from `input`: the tag first if it comes first, else through a JSON copy.
pub(crate) fn deserialize<'de, T: Tagged, D: Deserializer<'de>>(input: D) -> Result<T, D::Error> {
    input.deserialize_map(TagFirst(PhantomData))
}

struct TagFirst<T>(PhantomData<T>);

impl<'de, T: Tagged> Visitor<'de> for TagFirst<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Err(de::Error::missing_field(T::TAG));
        };
        if first == T::TAG {
            let kind: String = map.next_value()?;
            return T::read(&kind, MapAccessDeserializer::new(map));
        }
        let mut object = serde_json::Map::new();
        object.insert(first, map.next_value()?);
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            object.insert(key, value);
        }
        let kind = object
            .remove(T::TAG)
            .ok_or_else(|| de::Error::missing_field(T::TAG))?;
        let kind = String::deserialize(kind).map_err(de::Error::custom)?;
        T::read(&kind, serde_json::Value::Object(object)).map_err(de::Error::custom)
    }
}
