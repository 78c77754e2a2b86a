//! The string values of a JSON document, found in its text with where they lie and under which
//! keys: what a data policy reads when it must read every string a model may see. One pass over
//! JSON already validated (by [`crate::object::RawObject::parse`]), no tree built, no allocation
//! but a small stack of the containers open.

use std::ops::Range;

/// A container open around a string.
#[derive(Clone, Copy, Debug)]
struct Frame<'a> {
    object: bool,
    /// An object's current key, as written (escapes kept).
    key: Option<&'a str>,
    /// An object between a `{` or `,` and the next key.
    expects_key: bool,
    /// An array's current element.
    index: usize,
}

/// Where a string value stands: the containers around it, outermost first.
#[derive(Clone, Copy, Debug)]
pub struct Place<'s, 'a> {
    frames: &'s [Frame<'a>],
}

impl<'a> Place<'_, 'a> {
    fn object_keys(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.frames
            .iter()
            .rev()
            .filter(|frame| frame.object)
            .filter_map(|frame| frame.key)
    }

    /// The key of the innermost object holding the string (`None` outside any object); a string
    /// in an array has its array's key (`"stop": ["a"]`: `stop`).
    pub fn key(&self) -> Option<&'a str> {
        self.object_keys().next()
    }

    /// The key of the object around the innermost one.
    pub fn parent_key(&self) -> Option<&'a str> {
        self.object_keys().nth(1)
    }

    /// Where the string sits in the document's first two levels: the element of the document
    /// when it is an array, and the key below it (`[{"content": …}]`: `(Some(0), Some("content"))`).
    /// Strings with the same answer belong to the same part of the document.
    pub fn branch(&self) -> (Option<usize>, Option<&'a str>) {
        let element = self
            .frames
            .first()
            .filter(|frame| !frame.object)
            .map(|frame| frame.index);
        let key_frame = if element.is_some() {
            self.frames.get(1)
        } else {
            self.frames.first()
        };
        (element, key_frame.filter(|f| f.object).and_then(|f| f.key))
    }
}

/// Calls `visit` with the byte range of each string value of `json` (quotes included), in
/// document order, and its place. Object keys are not values, but for the keys of a JSON schema's
/// `properties` (or `patternProperties`): a property's name is text the model reads too. Such a
/// key is visited with itself as its place's [`Place::key`] and `properties` as its parent key.
/// `json` must be valid JSON; on anything else the strings visited are unspecified, but the walk
/// ends and never panics.
pub fn string_values<'a>(json: &'a str, mut visit: impl FnMut(Range<usize>, Place<'_, 'a>)) {
    let bytes = json.as_bytes();
    let mut frames: Vec<Frame<'a>> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            open @ (b'{' | b'[') => frames.push(Frame {
                object: open == b'{',
                key: None,
                expects_key: open == b'{',
                index: 0,
            }),
            b'}' | b']' => {
                frames.pop();
            }
            b',' => {
                if let Some(frame) = frames.last_mut() {
                    frame.index += 1;
                    frame.expects_key = frame.object;
                }
            }
            b'"' => {
                let end = literal_end(bytes, i);
                match frames.last_mut() {
                    Some(frame) if frame.expects_key => {
                        frame.key = json.get(i + 1..end.saturating_sub(1));
                        frame.expects_key = false;
                        if names_properties(&frames) {
                            visit(i..end, Place { frames: &frames });
                        }
                    }
                    _ => visit(i..end, Place { frames: &frames }),
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
}

/// Whether the innermost object is the value of a `properties` or `patternProperties` key: its
/// keys are the names of a schema's properties.
fn names_properties(frames: &[Frame<'_>]) -> bool {
    match frames {
        [.., outer, inner] => {
            inner.object
                && outer.object
                && matches!(outer.key, Some("properties" | "patternProperties"))
        }
        _ => false,
    }
}

/// The end (after the closing quote) of the string literal starting at `start`.
fn literal_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(json: &str) -> Vec<(String, Option<String>, Option<String>, String)> {
        let mut out = Vec::new();
        string_values(json, |range, place| {
            let (element, branch_key) = place.branch();
            out.push((
                json[range].to_owned(),
                place.key().map(str::to_owned),
                place.parent_key().map(str::to_owned),
                format!("{element:?}/{branch_key:?}"),
            ));
        });
        out
    }

    #[test]
    fn values_with_their_keys_and_branches() {
        let json = r#"[{"role":"user","content":[{"type":"text","text":"a \"b\" ]}"}],"name":"n"},
            {"tool_calls":[{"function":{"arguments":"{\"x\":1}"}}]}, "s", 3, ["t"]]"#;
        let seen = walk(json);
        let values: Vec<&str> = seen.iter().map(|(v, ..)| v.as_str()).collect();
        assert_eq!(
            values,
            [
                r#""user""#,
                r#""text""#,
                r#""a \"b\" ]}""#,
                r#""n""#,
                r#""{\"x\":1}""#,
                r#""s""#,
                r#""t""#
            ]
        );
        let text = &seen[2];
        assert_eq!(text.1.as_deref(), Some("text"));
        assert_eq!(text.2.as_deref(), Some("content"));
        assert_eq!(text.3, r#"Some(0)/Some("content")"#);
        assert_eq!(seen[3].3, r#"Some(0)/Some("name")"#);
        let arguments = &seen[4];
        assert_eq!(arguments.1.as_deref(), Some("arguments"));
        assert_eq!(arguments.2.as_deref(), Some("function"));
        assert_eq!(arguments.3, r#"Some(1)/Some("tool_calls")"#);
        assert_eq!(seen[5].3, "Some(2)/None");
        assert_eq!(seen[6].3, "Some(4)/None");
    }

    #[test]
    fn a_lone_string_and_an_object_of_arrays() {
        assert_eq!(walk(r#""x""#)[0].3, "None/None");
        let seen = walk(r#"{"stop":["a","b"],"n":1}"#);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].1.as_deref(), Some("stop"));
        assert_eq!(seen[1].3, r#"None/Some("stop")"#);
    }

    #[test]
    fn the_names_of_a_schemas_properties_are_read_as_values() {
        let seen = walk(
            r#"{"parameters":{"type":"object","properties":{"jean@example.fr":{"type":"string"},
            "b":{"properties":{"c":{}}}},"required":["jean@example.fr"]}}"#,
        );
        let values: Vec<(&str, Option<&str>, Option<&str>)> = seen
            .iter()
            .map(|(v, key, parent, _)| (v.as_str(), key.as_deref(), parent.as_deref()))
            .collect();
        assert_eq!(
            values,
            [
                (r#""object""#, Some("type"), Some("parameters")),
                (
                    r#""jean@example.fr""#,
                    Some("jean@example.fr"),
                    Some("properties")
                ),
                (r#""string""#, Some("type"), Some("jean@example.fr")),
                (r#""b""#, Some("b"), Some("properties")),
                (r#""c""#, Some("c"), Some("properties")),
                (r#""jean@example.fr""#, Some("required"), Some("parameters")),
            ]
        );
    }

    #[test]
    fn broken_json_ends_the_walk() {
        for json in [r#""unterminated"#, r#"{"a":"b\"#, "]]}}", r#"{"k""#, "\\"] {
            walk(json);
        }
    }
}
