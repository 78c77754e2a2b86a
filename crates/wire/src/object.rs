//! A JSON object kept as raw field values, so the gateway can read the few fields it interprets and
//! pass every other field (tools, tool_choice, response_format, seed…) through byte for byte.
//!
//! Parsing validates the whole document once; re-serializing copies untouched values verbatim.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The top-level fields of a JSON object, in document order.
#[derive(Debug, Clone, Default)]
pub struct RawObject<'a> {
    fields: Vec<(Cow<'a, str>, Cow<'a, RawValue>)>,
}

impl<'a> RawObject<'a> {
    /// Parses `bytes`, which must hold one JSON object.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Reads a field as a typed value; `Ok(None)` when absent or JSON `null`.
    pub fn get_as<T: Deserialize<'a>>(&'a self, key: &str) -> Result<Option<T>, serde_json::Error> {
        match self.get(key) {
            None => Ok(None),
            Some(raw) if raw.get() == "null" => Ok(None),
            Some(raw) => serde_json::from_str(raw.get()).map(Some),
        }
    }

    /// The fields, in document order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.fields.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// Sets the value of the field at `position` (of [`RawObject::fields`]) to already-serialized
    /// JSON; a position past the last field changes nothing.
    pub fn set_raw_at(&mut self, position: usize, json: String) -> Result<(), serde_json::Error> {
        let value = Cow::Owned(RawValue::from_string(json)?);
        if let Some((_, v)) = self.fields.get_mut(position) {
            *v = value;
        }
        Ok(())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.fields.iter().any(|(k, _)| k == key)
    }

    /// Sets a field to already-serialized JSON, replacing any previous value.
    pub fn set_raw(&mut self, key: &'a str, json: String) -> Result<(), serde_json::Error> {
        let value = Cow::Owned(RawValue::from_string(json)?);
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.fields.push((Cow::Borrowed(key), value)),
        }
        Ok(())
    }

    /// [`RawObject::set_raw`] for a key the caller owns (a name read from data, not a constant).
    pub fn set_owned(&mut self, key: String, json: String) -> Result<(), serde_json::Error> {
        let value = Cow::Owned(RawValue::from_string(json)?);
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.fields.push((Cow::Owned(key), value)),
        }
        Ok(())
    }

    /// Sets a string field.
    pub fn set_str(&mut self, key: &'a str, value: &str) -> Result<(), serde_json::Error> {
        self.set_raw(key, serde_json::to_string(value)?)
    }

    /// Removes a field, returning whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.fields.len();
        self.fields.retain(|(k, _)| k != key);
        self.fields.len() != before
    }

    /// Moves a field's value to another name (e.g. `seed` → `random_seed`), unless the target exists.
    pub fn rename(&mut self, from: &str, to: &'a str) {
        if self.contains(to) {
            self.remove(from);
            return;
        }
        if let Some((k, _)) = self.fields.iter_mut().find(|(k, _)| k == from) {
            *k = Cow::Borrowed(to);
        }
    }

    /// Serializes back to JSON bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let len: usize = self
            .fields
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum();
        let mut out = Vec::with_capacity(len + 2);
        out.push(b'{');
        for (i, (key, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Keys are plain strings; serializing one into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, key.as_ref());
            out.push(b':');
            out.extend_from_slice(value.get().as_bytes());
        }
        out.push(b'}');
        out
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for ObjectVisitor<'a> {
            type Value = RawObject<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<RawObject<'a>, M::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    if fields.iter().any(|(k, _): &(Cow<'a, str>, _)| *k == key) {
                        return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                    fields.push((key, Cow::Borrowed(value)));
                }
                Ok(RawObject { fields })
            }
        }

        deserializer.deserialize_map(ObjectVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_fields_pass_through_verbatim() {
        let body =
            br#"{"model":"a","tools":[{"type":"function","function":{"name":"f"}}],"seed":7}"#;
        let mut obj = RawObject::parse(body).unwrap();
        obj.set_str("model", "b").unwrap();
        obj.rename("seed", "random_seed");
        let out = String::from_utf8(obj.to_vec()).unwrap();
        assert_eq!(
            out,
            r#"{"model":"b","tools":[{"type":"function","function":{"name":"f"}}],"random_seed":7}"#
        );
    }

    #[test]
    fn typed_reads_and_null_handling() {
        let obj =
            RawObject::parse(br#"{"stream":true,"max_tokens":null,"model":"m\u00e9"}"#).unwrap();
        assert_eq!(obj.get_as::<bool>("stream").unwrap(), Some(true));
        assert_eq!(obj.get_as::<u64>("max_tokens").unwrap(), None);
        assert_eq!(
            obj.get_as::<String>("model").unwrap().as_deref(),
            Some("mé")
        );
        assert!(obj.get_as::<u64>("stream").is_err());
    }

    #[test]
    fn non_objects_and_duplicates_are_refused() {
        assert!(RawObject::parse(b"[1,2]").is_err());
        assert!(RawObject::parse(br#"{"a":1,"a":2}"#).is_err());
        assert!(RawObject::parse(br#"{"a":1"#).is_err());
    }
}
