//! `LIKE` patterns whose only wildcard is `%` and that have several literal parts
//! (`'%special%requests%'`, `'a%b'`): Arrow's kernel runs those through a regular
//! expression; here each part is searched for after the previous one, with memchr's
//! substring search. Patterns of one part (`'abc'`, `'abc%'`, `'%abc'`, `'%abc%'`)
//! Arrow already matches without a regular expression, and `_`, escapes and ILIKE
//! stay with it too.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::buffer::BooleanBuffer;
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use datafusion_common::{Result, ScalarValue};
use datafusion_expr::ColumnarValue;
use datafusion_physical_expr::expressions::{LikeExpr, Literal};
use datafusion_physical_expr::PhysicalExpr;
use memchr::memmem::Finder;

/// `input [NOT] LIKE pattern` for a pattern of literal parts between `%`s.
#[derive(Debug)]
pub struct LikeParts {
    input: Arc<dyn PhysicalExpr>,
    negated: bool,
    parts: Parts,
    /// The `LikeExpr` this stands for: its type, name, equality, and scalar inputs.
    replaced: Arc<dyn PhysicalExpr>,
}

/// A pattern split at its `%`s.
#[derive(Debug, Clone)]
struct Parts {
    /// What a match starts with (the pattern does not start with `%`).
    first: Option<Vec<u8>>,
    /// What a match ends with (the pattern does not end with `%`).
    last: Option<Vec<u8>>,
    /// The non-empty parts between, in order.
    inner: Vec<Finder<'static>>,
}

impl Parts {
    /// `None` unless the pattern has two literal parts or more and no `_` or `\`.
    fn of(pattern: &str) -> Option<Parts> {
        if pattern.contains(['_', '\\']) {
            return None;
        }
        let pieces: Vec<&str> = pattern.split('%').collect();
        let [first, middle @ .., last] = &pieces[..] else {
            return None;
        };
        if pieces.iter().filter(|piece| !piece.is_empty()).count() < 2 {
            return None;
        }
        let anchored = |piece: &str| (!piece.is_empty()).then(|| piece.as_bytes().to_vec());
        Some(Parts {
            first: anchored(first),
            last: anchored(last),
            inner: middle
                .iter()
                .filter(|piece| !piece.is_empty())
                .map(|piece| Finder::new(piece.as_bytes()).into_owned())
                .collect(),
        })
    }

    fn matches(&self, text: &[u8]) -> bool {
        let mut rest = text;
        if let Some(first) = &self.first {
            let Some(after) = rest.strip_prefix(first.as_slice()) else {
                return false;
            };
            rest = after;
        }
        for part in &self.inner {
            let Some(at) = part.find(rest) else {
                return false;
            };
            rest = &rest[at + part.needle().len()..];
        }
        // The last part must lie after the others, so it is looked for in what is left.
        self.last
            .as_ref()
            .is_none_or(|last| rest.ends_with(last.as_slice()))
    }
}

impl LikeParts {
    /// The replacement for `expr` when it is a LIKE this matches faster.
    pub fn try_new(expr: &Arc<dyn PhysicalExpr>) -> Option<LikeParts> {
        let like = expr.downcast_ref::<LikeExpr>()?;
        if like.case_insensitive() {
            return None;
        }
        let literal = like.pattern().downcast_ref::<Literal>()?;
        let pattern = match literal.value() {
            ScalarValue::Utf8(Some(pattern))
            | ScalarValue::Utf8View(Some(pattern))
            | ScalarValue::LargeUtf8(Some(pattern)) => pattern,
            _ => return None,
        };
        Some(LikeParts {
            input: Arc::clone(like.expr()),
            negated: like.negated(),
            parts: Parts::of(pattern)?,
            replaced: Arc::clone(expr),
        })
    }

    /// Whether each value of `strings` matches, NULL for NULL; `None` for an array
    /// that is not of strings.
    fn over(&self, strings: &ArrayRef) -> Option<BooleanArray> {
        let test = |text: Option<&str>| text.is_some_and(|t| self.parts.matches(t.as_bytes()));
        let values = match strings.data_type() {
            DataType::Utf8View => {
                let strings = strings.as_string_view();
                BooleanBuffer::collect_bool(strings.len(), |row| {
                    test(strings.is_valid(row).then(|| strings.value(row)))
                })
            }
            DataType::Utf8 => {
                let strings = strings.as_string::<i32>();
                BooleanBuffer::collect_bool(strings.len(), |row| {
                    test(strings.is_valid(row).then(|| strings.value(row)))
                })
            }
            DataType::LargeUtf8 => {
                let strings = strings.as_string::<i64>();
                BooleanBuffer::collect_bool(strings.len(), |row| {
                    test(strings.is_valid(row).then(|| strings.value(row)))
                })
            }
            _ => return None,
        };
        let values = if self.negated { !&values } else { values };
        Some(BooleanArray::new(values, strings.nulls().cloned()))
    }
}

// Everything else follows from the expression it stands for.
impl PartialEq for LikeParts {
    fn eq(&self, other: &Self) -> bool {
        self.replaced.eq(&other.replaced)
    }
}

impl Eq for LikeParts {}

impl Hash for LikeParts {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.replaced.hash(state);
    }
}

impl PhysicalExpr for LikeParts {
    fn data_type(&self, schema: &Schema) -> Result<DataType> {
        self.replaced.data_type(schema)
    }

    fn nullable(&self, schema: &Schema) -> Result<bool> {
        self.replaced.nullable(schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        if let ColumnarValue::Array(strings) = self.input.evaluate(batch)? {
            if let Some(matched) = self.over(&strings) {
                return Ok(ColumnarValue::Array(Arc::new(matched)));
            }
        }
        self.replaced.evaluate(batch)
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let like = self.replaced.downcast_ref::<LikeExpr>().ok_or_else(|| {
            datafusion_common::DataFusionError::Internal("LikeParts stands for a LIKE".into())
        })?;
        let [input]: [Arc<dyn PhysicalExpr>; 1] = children.try_into().map_err(|_| {
            datafusion_common::DataFusionError::Internal(format!("{self} has one child"))
        })?;
        let replaced = Arc::clone(&self.replaced)
            .with_new_children(vec![Arc::clone(&input), Arc::clone(like.pattern())])?;
        Ok(Arc::new(LikeParts {
            input,
            negated: self.negated,
            parts: self.parts.clone(),
            replaced,
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.replaced.fmt_sql(f)
    }
}

impl fmt::Display for LikeParts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.replaced, f)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{StringArray, StringViewArray};
    use arrow::datatypes::Field;
    use datafusion_physical_expr::expressions::{col, like, lit};

    use super::*;

    /// Arrow's LIKE and this one over the same strings.
    fn both(pattern: &str, negated: bool, strings: ArrayRef) -> (ArrayRef, Option<ArrayRef>) {
        let strings_type = strings.data_type().clone();
        let schema = Schema::new(vec![Field::new("s", strings_type.clone(), true)]);
        let batch = RecordBatch::try_new(Arc::new(schema.clone()), vec![strings]).unwrap();
        let pattern = match strings_type {
            DataType::Utf8View => ScalarValue::Utf8View(Some(pattern.into())),
            _ => ScalarValue::Utf8(Some(pattern.into())),
        };
        let expr = like(
            negated,
            false,
            col("s", &schema).unwrap(),
            lit(pattern),
            &schema,
        )
        .unwrap();
        let expected = expr
            .evaluate(&batch)
            .unwrap()
            .into_array(batch.num_rows())
            .unwrap();
        let fast = LikeParts::try_new(&expr).map(|parts| {
            let parts: Arc<dyn PhysicalExpr> = Arc::new(parts);
            parts
                .evaluate(&batch)
                .unwrap()
                .into_array(batch.num_rows())
                .unwrap()
        });
        (expected, fast)
    }

    #[test]
    fn patterns_of_several_parts_match_as_arrow_does() {
        let texts = vec![
            Some("special requests"),
            Some("requests special"),
            Some("specialrequests"),
            Some("aba"),
            Some("ab"),
            Some("abba"),
            Some("a%b"),
            Some(""),
            None,
            Some("xx special yy requests zz"),
            Some("ünïcode special ∂ requests"),
        ];
        let patterns = [
            "%special%requests%",
            "special%requests",
            "%special%requests",
            "ab%ba",
            "a%a",
            "a%b%",
            "%a%%b",
            "%%sp%",
        ];
        for pattern in patterns {
            for negated in [false, true] {
                for strings in [
                    Arc::new(StringViewArray::from(texts.clone())) as ArrayRef,
                    Arc::new(StringArray::from(texts.clone())) as ArrayRef,
                ] {
                    let (expected, fast) = both(pattern, negated, strings);
                    let Some(fast) = fast else {
                        assert_eq!(pattern, "%%sp%", "{pattern} should have several parts");
                        continue;
                    };
                    assert_eq!(&expected, &fast, "{pattern} negated: {negated}");
                }
            }
        }
    }

    #[test]
    fn one_part_wildcards_and_escapes_stay_with_arrow() {
        for pattern in ["abc", "abc%", "%abc", "%abc%", "a_c%d", "a\\%b%c", "%"] {
            let strings = Arc::new(StringViewArray::from(vec!["abc"])) as ArrayRef;
            assert!(both(pattern, false, strings).1.is_none(), "{pattern}");
        }
    }
}
